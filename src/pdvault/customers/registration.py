"""Registering customers, one or a batch. Each new customer has its access event; the route
commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.writer import ALLOWED, DENIED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.customers import sealing
from pdvault.customers.access import AuditedAccess
from pdvault.customers.models import Consent, Customer
from pdvault.customers.schemas import BatchResult, CustomerCreated, CustomerIn
from pdvault.db import Base, new_id, utcnow
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
# New rows go in by Core INSERT on the tables (an executemany for a batch): the rows are
# complete dicts, and the ORM bulk-insert path only adds per-row mapper work on top.
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
            await self.session.execute(insert(_CUSTOMERS), [row])
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
        now = utcnow()
        values = {f: getattr(data, f) for f in ALL_FIELDS}
        row = await sealing.seal_new(self.runtime.keys, customer_id, values)
        row.update(
            id=customer_id,
            created_at=now,
            updated_at=now,
            version=1,
            policy_version=data.policy_version,
            erased_at=None,
        )
        return row

    async def _insert_consents(self, items: Sequence[tuple[uuid.UUID, CustomerIn]]) -> None:
        now = utcnow()
        rows = [
            {
                "id": new_id(),
                "customer_id": cid,
                "kind": kind,
                "granted": granted,
                "source": "registration",
                "policy_version": data.policy_version,
                "recorded_at": now,
                "recorded_by": self.actor.principal_id,
            }
            for cid, data in items
            for kind, granted in _consent_state(data).items()
        ]
        if rows:
            await self.session.execute(insert(_CONSENTS), rows)

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
        seen: dict[bytes, uuid.UUID] = {}
        to_insert: list[tuple[int, uuid.UUID, CustomerIn]] = []
        rows: list[dict[str, Any]] = []
        for index, data, bidx in valid:
            prior = existing.get(bidx) or seen.get(bidx)
            if prior is not None:
                results[index] = BatchResult(
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
                continue
            cid = new_id()
            seen[bidx] = cid
            rows.append(await self._new_row(cid, data))
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
        if rows:
            await self.session.execute(insert(_CUSTOMERS), rows)
            await self._insert_consents([(cid, data) for _, cid, data in to_insert])
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
