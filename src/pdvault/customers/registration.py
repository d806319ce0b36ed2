"""Registering customers, one or a batch. Each new customer has its access event; the route
commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.writer import ALLOWED, DENIED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.customers import sealing
from pdvault.customers.access import AuditedAccess
from pdvault.customers.models import Consent, Customer
from pdvault.customers.schemas import BatchResult, CustomerCreated, CustomerIn
from pdvault.db import Base, insert_many, new_id, new_ids, utcnow
from pdvault.errors import (
    MAX_LISTED_ERRORS,
    Conflict,
    Problem,
    Unprocessable,
    error_entries,
    problem_body,
)
from pdvault.policy import ALL_FIELDS, Access, Facts, Purpose, Reason, decide
from pdvault.runtime import Runtime

REGISTRATION = Purpose.REGISTRATION.value
_customer_adapter: TypeAdapter[CustomerIn] = TypeAdapter(CustomerIn)
# New rows go in as complete dicts through ``insert_many`` (PostgreSQL: COPY; SQLite: a Core
# executemany): the ORM bulk-insert path only adds per-row mapper work on top.
_CUSTOMERS = Base.metadata.tables[Customer.__tablename__]
_CONSENTS = Base.metadata.tables[Consent.__tablename__]
DUPLICATE = "A live customer with this email already exists."


async def customer_with_email(session: AsyncSession, email_index: bytes) -> uuid.UUID | None:
    """The id of the customer whose email has this blind index, if any."""
    return await session.scalar(select(Customer.id).where(Customer.email_bidx == email_index))


class CustomerRegistration:
    def __init__(self, runtime: Runtime, session: AsyncSession, actor: Actor) -> None:
        self.runtime, self.session, self.actor = runtime, session, actor
        self.access = AuditedAccess(runtime, session, actor)

    async def create(self, data: CustomerIn) -> CustomerCreated:
        action = "customer.create"
        permit = await self.access.permit(action, REGISTRATION, None, Access.CREATE)
        decision = decide(permit, Facts(processing_consent=data.consents.processing))
        if not decision.allowed:
            raise await self.access.refused(
                action,
                Reason.CONSENT_REQUIRED.value,
                purpose=REGISTRATION,
                problem=_consent_required(),
            )
        email_index = sealing.index_of(self.runtime.keys, "email", data.email)
        existing = await customer_with_email(self.session, email_index)
        if existing is not None:
            raise await self._duplicate(action, existing)
        customer_id = new_id()
        row = await self._new_row(customer_id, data)
        try:
            await insert_many(await self.session.connection(), _CUSTOMERS, [row])
        except IntegrityError:
            await self.session.rollback()
            existing = await customer_with_email(self.session, email_index)
            raise await self._duplicate(action, existing) from None
        await self._insert_consents([(customer_id, data)])
        event = _registered(action, customer_id, decision.basis)
        await self.runtime.audit.append(self.session, self.actor, event)
        return CustomerCreated(
            id=customer_id, created_at=row["created_at"], consents=_consent_state(data)
        )

    async def _duplicate(self, action: str, existing: uuid.UUID | None) -> Problem:
        return await self.access.refused(
            action,
            "duplicate_customer",
            customer_id=existing,
            purpose=REGISTRATION,
            problem=Conflict(
                DUPLICATE,
                reason="duplicate_customer",
                existing_id=str(existing) if existing else None,
            ),
        )

    async def _new_row(self, customer_id: uuid.UUID, data: CustomerIn) -> dict[str, Any]:
        return (await self._new_rows([(customer_id, data)]))[0]

    async def _new_rows(
        self, items: Sequence[tuple[uuid.UUID, CustomerIn]]
    ) -> list[dict[str, Any]]:
        """Complete rows for new customers, in order, all with the same columns."""
        now = utcnow()
        rows = await sealing.seal_new_many(
            self.runtime.keys,
            [(cid, {f: getattr(data, f) for f in ALL_FIELDS}) for cid, data in items],
        )
        for row, (cid, data) in zip(rows, items, strict=True):
            row.update(
                id=cid,
                created_at=now,
                updated_at=now,
                policy_version=data.policy_version,
                erased_at=None,
            )
        return rows

    async def _insert_consents(self, items: Sequence[tuple[uuid.UUID, CustomerIn]]) -> None:
        now = utcnow()
        states = [(cid, data, _consent_state(data)) for cid, data in items]
        ids = iter(new_ids(sum(len(state) for _, _, state in states)))
        rows = [
            {
                "id": next(ids),
                "customer_id": cid,
                "kind": kind,
                "granted": granted,
                "source": "registration",
                "policy_version": data.policy_version,
                "recorded_at": now,
                "recorded_by": self.actor.principal_id,
            }
            for cid, data, state in states
            for kind, granted in state.items()
        ]
        await insert_many(await self.session.connection(), _CONSENTS, rows)

    # -- batch ----------------------------------------------------------------------------

    async def create_batch(self, items: Sequence[Any]) -> list[BatchResult]:
        action = "customer.create"
        await self.access.permit(action, REGISTRATION, None, Access.CREATE)
        results: list[BatchResult | None] = [None] * len(items)
        valid: list[tuple[int, CustomerIn, bytes]] = []
        for index, raw in enumerate(items):
            try:
                data = _customer_adapter.validate_python(raw)
            except ValidationError as exc:
                results[index] = _item_problem(index, 422, exc)
                continue
            if not data.consents.processing:
                results[index] = BatchResult(
                    index=index,
                    status=422,
                    problem=_consent_required().to_body(),
                )
                continue
            valid.append((index, data, sealing.index_of(self.runtime.keys, "email", data.email)))

        attempts_left = 3
        while True:
            attempt = list(results)
            try:
                await self._insert_batch(action, valid, attempt)
            except IntegrityError:
                # A concurrent request registered one of these emails first: look again, so
                # those items become 409s instead of the whole batch failing.
                await self.session.rollback()
                attempts_left -= 1
                if attempts_left == 0:
                    raise
                continue
            return [r for r in attempt if r is not None]

    async def _insert_batch(
        self,
        action: str,
        valid: Sequence[tuple[int, CustomerIn, bytes]],
        results: list[BatchResult | None],
    ) -> None:
        existing = await self._existing_emails([bidx for _, _, bidx in valid])
        ids = iter(new_ids(len(valid)))
        seen: dict[bytes, uuid.UUID] = {}
        to_insert: list[tuple[int, uuid.UUID, CustomerIn]] = []
        for index, data, bidx in valid:
            prior = existing.get(bidx) or seen.get(bidx)
            if prior is not None:
                results[index] = _duplicate_item(index, prior)
                continue
            cid = seen[bidx] = next(ids)
            to_insert.append((index, cid, data))
        denied = [
            EventDraft(
                action=action,
                outcome=DENIED,
                purpose=REGISTRATION,
                reason="duplicate_customer",
                customer_id=existing.get(bidx),
            )
            for _, _, bidx in valid
            if bidx in existing
        ]
        if to_insert:
            created = [(cid, data) for _, cid, data in to_insert]
            rows = await self._new_rows(created)
            await insert_many(await self.session.connection(), _CUSTOMERS, rows)
            await self._insert_consents(created)
        await self.runtime.audit.append(
            self.session,
            self.actor,
            *(_registered(action, cid, f"purpose:{REGISTRATION}") for _, cid, _ in to_insert),
            *denied,
        )
        for index, cid, _ in to_insert:
            results[index] = BatchResult(index=index, status=201, id=cid)

    async def _existing_emails(self, indexes: list[bytes]) -> dict[bytes, uuid.UUID]:
        found: dict[bytes, uuid.UUID] = {}
        for start in range(0, len(indexes), 500):
            chunk = indexes[start : start + 500]
            rows = await self.session.execute(
                select(Customer.email_bidx, Customer.id).where(Customer.email_bidx.in_(chunk))
            )
            for bidx, cid in rows:
                if bidx is not None:
                    found[bidx] = cid
        return found


def _registered(action: str, customer_id: uuid.UUID, basis: str | None) -> EventDraft:
    """The event of a registration: every field, written under the registration purpose."""
    return EventDraft(
        action=action,
        outcome=ALLOWED,
        customer_id=customer_id,
        fields=ALL_FIELDS,
        purpose=REGISTRATION,
        basis=basis,
    )


def _duplicate_item(index: int, prior: uuid.UUID) -> BatchResult:
    return BatchResult(
        index=index,
        status=409,
        problem=problem_body(
            409,
            DUPLICATE,
            slug="duplicate_customer",
            reason="duplicate_customer",
            existing_id=str(prior),
        ),
    )


def _consent_state(data: CustomerIn) -> dict[str, bool]:
    return {"processing": data.consents.processing, "marketing": data.consents.marketing}


def _consent_required() -> Unprocessable:
    return Unprocessable(
        "Processing consent must be given to register (consents.processing = true).",
        reason=Reason.CONSENT_REQUIRED.value,
        errors=[{"loc": ["body", "consents", "processing"], "msg": "must be true"}],
    )


def _item_problem(index: int, status: int, exc: ValidationError) -> BatchResult:
    errors = error_entries(exc.errors()[:MAX_LISTED_ERRORS])
    return BatchResult(
        index=index,
        status=status,
        problem=problem_body(422, "The item is not valid.", slug="validation_error", errors=errors),
    )
