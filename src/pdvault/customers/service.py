"""Customer operations. Every path records its access event; the router commits."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.writer import ALLOWED, DENIED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.crypto.envelope import DecryptionError
from pdvault.customers import justifications, sealing
from pdvault.customers.facts import SUBJECTS, load_facts, load_subject, subject_of
from pdvault.customers.models import Consent, Customer
from pdvault.customers.schemas import (
    BatchResult,
    CustomerCreated,
    CustomerIn,
    CustomerOut,
    CustomerPatch,
    SearchHit,
    SearchIn,
)
from pdvault.db import Base, new_id, utcnow, writable
from pdvault.errors import (
    MAX_LISTED_ERRORS,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    PreconditionFailed,
    Problem,
    ServiceUnavailable,
    Unprocessable,
    error_entries,
    problem_body,
)
from pdvault.policy import (
    ALL_FIELDS,
    Access,
    AccessDecision,
    Denial,
    Facts,
    Permit,
    Purpose,
    Reason,
    allowed_on_justification,
    authorize,
    decide,
    rule_for,
)
from pdvault.policy.explain import purpose_refusal
from pdvault.vault import Vault

REGISTRATION = Purpose.REGISTRATION.value
_customer_adapter: TypeAdapter[CustomerIn] = TypeAdapter(CustomerIn)
# New rows go in by Core INSERT on the tables (an executemany for a batch): the rows are
# complete dicts, and the ORM bulk-insert path only adds per-row mapper work on top.
_CUSTOMERS = Base.metadata.tables[Customer.__tablename__]
_CONSENTS = Base.metadata.tables[Consent.__tablename__]
logger = logging.getLogger("pdvault.customers")


def etag_of(customer: Customer) -> str:
    return f'"{customer.version}"'


class CustomerService:
    def __init__(self, vault: Vault, session: AsyncSession, actor: Actor) -> None:
        self.vault = vault
        self.session = session
        self.actor = actor

    # -- shared steps -------------------------------------------------------------------

    async def _refuse(
        self,
        action: str,
        reason: str,
        *,
        customer_id: uuid.UUID | None = None,
        purpose: str | None = None,
        fields: Sequence[str] = (),
        problem: Problem | None = None,
    ) -> Problem:
        return await self.vault.audit.denied(
            self.session,
            self.actor,
            EventDraft.refusal(
                action, reason, customer_id=customer_id, purpose=purpose, fields=fields
            ),
            problem=problem,
        )

    async def _permit(
        self,
        action: str,
        purpose: str | None,
        fields: Sequence[str] | None,
        access: Access,
        customer_id: uuid.UUID | None = None,
        where: Literal["query", "body"] = "query",
    ) -> Permit:
        permit = authorize(self.actor.role, purpose, fields, access)
        if isinstance(permit, Denial):
            raise await self._refuse(
                action,
                permit.reason.value,
                customer_id=customer_id,
                purpose=purpose,
                fields=permit.fields,
                problem=purpose_refusal(self.actor.role, purpose, access, where)
                if permit.reason is Reason.PURPOSE_NOT_PERMITTED
                else None,
            )
        return permit

    async def require_live(
        self, action: str, customer_id: uuid.UUID, purpose: str | None = None
    ) -> Customer:
        """The customer, or a logged refusal: 404 when there is none, 410 when erased."""
        return await self._live(
            action, customer_id, purpose, await self.session.get(Customer, customer_id)
        )

    async def live_subject(
        self, action: str, customer_id: uuid.UUID, purpose: str | None = None
    ) -> tuple[Customer, dict[str, bool]]:
        """``require_live`` and the customer's consent state, in one statement."""
        subject = await load_subject(self.session, customer_id)
        customer = await self._live(
            action, customer_id, purpose, subject[0] if subject is not None else None
        )
        return customer, subject[1] if subject is not None else {}

    async def _live(
        self, action: str, customer_id: uuid.UUID, purpose: str | None, customer: Customer | None
    ) -> Customer:
        if customer is None:
            raise await self._refuse(
                action,
                "not_found",
                customer_id=customer_id,
                purpose=purpose,
                problem=NotFound("No such customer."),
            )
        if customer.erased_at is not None:
            raise await self._refuse(
                action,
                "erased",
                customer_id=customer_id,
                purpose=purpose,
                problem=Gone("This customer's personal data has been erased."),
            )
        return customer

    async def _decide(
        self,
        action: str,
        customer: Customer,
        permit: Permit,
        justification: str | None,
        consents: dict[str, bool] | None = None,
        export: bool = False,
    ) -> AccessDecision:
        facts = await load_facts(
            self.session,
            customer.id,
            permit,
            justification=justification,
            consents=consents,
            export=export,
        )
        decision = decide(permit, facts)
        if not decision.allowed:
            raise await self._refuse(
                action,
                _reason(decision),
                customer_id=customer.id,
                purpose=decision.purpose,
                fields=decision.fields,
            )
        return decision

    async def _open(self, action: str, customer: Customer, fields: Sequence[str]) -> dict[str, str]:
        try:
            return await sealing.open_fields(self.vault.keys, customer, fields)
        except DecryptionError:
            raise await self._integrity_failure(action, customer, "nothing was disclosed")

    async def _reseal(
        self, action: str, customer: Customer, changes: dict[str, str]
    ) -> dict[str, Any]:
        """The row's columns for its next version: every field sealed again under it."""
        try:
            data_key = await sealing.data_key_of(self.vault.keys, customer)
            return sealing.reseal(self.vault.keys, data_key, customer, changes)
        except DecryptionError:
            raise await self._integrity_failure(action, customer, "nothing was changed")

    async def _integrity_failure(self, action: str, customer: Customer, outcome: str) -> Problem:
        """A stored value failed its integrity check: refused (logged) as 503, naming nothing."""
        raise await self._refuse(
            action,
            "integrity_failure",
            customer_id=customer.id,
            problem=ServiceUnavailable(f"A stored value failed its integrity check; {outcome}."),
        )

    def _representation(
        self, customer: Customer, purpose: str, values: dict[str, str]
    ) -> CustomerOut:
        return CustomerOut(
            id=customer.id,
            purpose=purpose,
            fields=values,
            created_at=customer.created_at,
            updated_at=customer.updated_at,
            version=customer.version,
        )

    # -- create ---------------------------------------------------------------------------

    async def create(self, data: CustomerIn) -> CustomerCreated:
        action = "customer.create"
        permit = await self._permit(action, REGISTRATION, None, Access.CREATE)
        decision = decide(permit, Facts(processing_consent=data.consents.processing))
        if not decision.allowed:
            raise await self._refuse(
                action,
                Reason.CONSENT_REQUIRED.value,
                purpose=REGISTRATION,
                problem=_consent_required(),
            )
        email_index = sealing.index_of(self.vault.keys, "email", data.email)
        existing = await self._existing_by_email(email_index)
        if existing is not None:
            await self._refuse_duplicate(action, existing)
        customer_id = new_id()
        row = await self._new_row(customer_id, data)
        try:
            await self.session.execute(insert(_CUSTOMERS), [row])
        except IntegrityError:
            await self.session.rollback()
            existing = await self._existing_by_email(email_index)
            await self._refuse_duplicate(action, existing)
        await self._insert_consents([(customer_id, data)])
        await self.vault.audit.append(
            self.session,
            self.actor,
            EventDraft(
                action=action,
                outcome=ALLOWED,
                customer_id=customer_id,
                fields=ALL_FIELDS,
                purpose=REGISTRATION,
                basis=decision.basis,
            ),
        )
        return CustomerCreated(
            id=customer_id, created_at=row["created_at"], consents=_consent_state(data)
        )

    async def _existing_by_email(self, email_index: bytes) -> uuid.UUID | None:
        return await self.session.scalar(
            select(Customer.id).where(Customer.email_bidx == email_index)
        )

    async def _refuse_duplicate(self, action: str, existing: uuid.UUID | None) -> None:
        raise await self._refuse(
            action,
            "duplicate_customer",
            customer_id=existing,
            purpose=REGISTRATION,
            problem=Conflict(
                "A live customer with this email already exists.",
                reason="duplicate_customer",
                existing_id=str(existing) if existing else None,
            ),
        )

    async def _new_row(self, customer_id: uuid.UUID, data: CustomerIn) -> dict[str, Any]:
        now = utcnow()
        values = {f: getattr(data, f) for f in ALL_FIELDS}
        row = await sealing.seal_new(self.vault.keys, customer_id, values)
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
        await self._permit(action, REGISTRATION, None, Access.CREATE)
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
            valid.append((index, data, sealing.index_of(self.vault.keys, "email", data.email)))

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
                        "A live customer with this email already exists.",
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
        await self.vault.audit.append(
            self.session,
            self.actor,
            *(
                EventDraft(
                    action=action,
                    outcome=ALLOWED,
                    customer_id=cid,
                    fields=ALL_FIELDS,
                    purpose=REGISTRATION,
                    basis=f"purpose:{REGISTRATION}",
                )
                for _, cid, _ in to_insert
            ),
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

    # -- read, search -----------------------------------------------------------------------

    async def read(
        self,
        customer_id: uuid.UUID,
        purpose: str | None,
        fields: Sequence[str] | None,
        justification: str | None,
    ) -> tuple[CustomerOut, str]:
        customer, decision, values = await self.disclose(
            "customer.read", customer_id, purpose, fields, justification
        )
        out = self._representation(customer, decision.purpose or "", values)
        return out, etag_of(customer)

    async def disclose(
        self,
        action: str,
        customer_id: uuid.UUID,
        purpose: str | None,
        fields: Sequence[str] | None = None,
        justification: str | None = None,
        *,
        export: bool = False,
    ) -> tuple[Customer, AccessDecision, dict[str, str]]:
        """The whole read path: table, live customer, condition, decryption, access event.
        ``export``: the read produces the customer's export (``subjects/export.py``)."""
        permit = await self._permit(action, purpose, fields, Access.READ, customer_id)
        customer, consents = await self.live_subject(action, customer_id, purpose)
        decision = await self._decide(action, customer, permit, justification, consents, export)
        values = await self._open(action, customer, decision.fields)
        if justification is not None and allowed_on_justification(decision):
            await justifications.keep(
                self.vault, self.session, self.actor, action, [customer], justification
            )
        await self.vault.audit.commit_read(
            self.session, self.actor, EventDraft.allowed(action, customer.id, decision)
        )
        return customer, decision, values

    async def search(self, query: SearchIn, justification: str | None) -> list[SearchHit]:
        action = "customer.search"
        permit = await self._permit(action, query.purpose, query.fields, Access.READ, where="body")
        key, value = ("email", query.email) if query.email is not None else ("phone", query.phone)
        column = getattr(Customer, sealing.INDEXED_FIELDS[key])
        index = sealing.index_of(self.vault.keys, key, value or "")
        found = [
            subject_of(row)
            for row in await self.session.execute(
                SUBJECTS.where(column == index, Customer.erased_at.is_(None))
                .order_by(Customer.id)
                .limit(100)
            )
        ]
        # Every field opened once per row (one key unwrap): the searched one to check the row
        # holds it, the others for the answer if the decision allows them.
        matches: list[tuple[Customer, dict[str, bool], dict[str, str]]] = []
        for customer, consents in found:
            opened = await self._open(action, customer, ALL_FIELDS)
            if self._holds(opened, key, value or ""):
                matches.append((customer, consents, opened))
        hits: list[SearchHit] = []
        justified: list[Customer] = []
        drafts: list[EventDraft] = []
        first_denial: str | None = None
        for customer, consents, opened in matches:
            facts = await load_facts(
                self.session, customer.id, permit, justification=justification, consents=consents
            )
            decision = decide(permit, facts)
            if not decision.allowed:
                first_denial = first_denial or _reason(decision)
                drafts.append(
                    EventDraft(
                        action=action,
                        outcome=DENIED,
                        customer_id=customer.id,
                        fields=decision.fields,
                        purpose=decision.purpose,
                        reason=_reason(decision),
                    )
                )
                continue
            values = {field: opened[field] for field in decision.fields}
            hits.append(SearchHit(id=customer.id, fields=values))
            drafts.append(EventDraft.allowed(action, customer.id, decision))
            if justification is not None and allowed_on_justification(decision):
                justified.append(customer)
        if not matches:
            drafts.append(
                EventDraft(
                    action=action,
                    outcome=ALLOWED,
                    purpose=permit.rule.purpose,
                    fields=(),
                    basis="no_match",
                )
            )
        if first_denial is not None and not hits:
            await self.session.rollback()
            await writable(self.session)
            await self.vault.audit.append(self.session, self.actor, *drafts)
            await self.session.commit()
            raise Forbidden(f"Access denied: {first_denial}.", reason=first_denial)
        if justification is not None:
            await justifications.keep(
                self.vault, self.session, self.actor, action, justified, justification
            )
        await self.vault.audit.commit_read(self.session, self.actor, *drafts)
        return hits

    def _holds(self, opened: dict[str, str], key: str, value: str) -> bool:
        """Whether the row a blind index led to holds the searched value. A row that does not
        had its index moved in the database: it is no match, and a tamper signal (a warning
        with no value or id, and a metric), never another customer's answer."""
        if sealing.match_form(key, opened[key]) == sealing.match_form(key, value):
            return True
        self.vault.metrics.integrity_failures.labels("blind_index").inc()
        logger.warning("customer search: a blind index led to a row holding another %s", key)
        return False

    # -- update -----------------------------------------------------------------------------

    async def update(
        self,
        customer_id: uuid.UUID,
        purpose: str | None,
        patch: CustomerPatch,
        if_match: list[str],
    ) -> tuple[CustomerOut, str]:
        action = "customer.update"
        changes = patch.changes()
        permit = await self._permit(action, purpose, list(changes), Access.WRITE, customer_id)
        customer = await self.require_live(action, customer_id, purpose)
        decision = await self._decide(action, customer, permit, None)
        current = etag_of(customer)
        if "*" not in if_match and current not in if_match:
            raise await self._refuse(
                action,
                "stale_version",
                customer_id=customer.id,
                purpose=decision.purpose,
                problem=PreconditionFailed(
                    "The customer changed since you read it; read it again.",
                    current_etag=current,
                ),
            )
        if "email" in changes:
            new_index = sealing.index_of(self.vault.keys, "email", changes["email"])
            holder = await self._existing_by_email(new_index)
            if holder is not None and holder != customer.id:
                # Logged against the customer being corrected, under the purpose used; the
                # other customer's id is not disclosed (a correction needs no reference to it).
                raise await self._refuse(
                    action,
                    "duplicate_customer",
                    customer_id=customer.id,
                    purpose=decision.purpose,
                    fields=("email",),
                    problem=Conflict(
                        "A live customer with this email already exists.",
                        reason="duplicate_customer",
                    ),
                )
        columns = await self._reseal(action, customer, changes)
        now = utcnow()
        result = await self.session.execute(
            update(Customer)
            .where(Customer.id == customer.id, Customer.version == customer.version)
            .values(**columns, updated_at=now)
        )
        if getattr(result, "rowcount", 1) != 1:
            raise await self._refuse(
                action,
                "stale_version",
                customer_id=customer.id,
                purpose=decision.purpose,
                problem=PreconditionFailed("The customer changed while updating; retry."),
            )
        await self.session.refresh(customer)
        read_fields = _readable(decision)
        values = await self._open(action, customer, read_fields)
        await self.vault.audit.append(
            self.session,
            self.actor,
            EventDraft(
                action=action,
                outcome=ALLOWED,
                customer_id=customer.id,
                fields=read_fields,
                purpose=decision.purpose,
                basis=decision.basis,
            ),
        )
        return self._representation(customer, permit.rule.purpose, values), etag_of(customer)


def _readable(decision: AccessDecision) -> tuple[str, ...]:
    """After a write, the response shows every field the purpose may read."""
    rule = rule_for(decision.purpose or "")
    if rule is None or Access.READ not in rule.access:
        return decision.fields
    return rule.fields


def _reason(decision: AccessDecision) -> str:
    return decision.reason.value if decision.reason is not None else "denied"


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
