"""Judicial requests (R2.3): filing, four-eyes decision, disclosure, and the legal hold."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.customers import sealing
from pdvault.customers.access import AuditedAccess
from pdvault.customers.models import Customer
from pdvault.db import new_id, utcnow
from pdvault.errors import Conflict, NotFound, Unprocessable
from pdvault.judicial.models import (
    APPROVED,
    REJECTED,
    SUBMITTED,
    JudicialRequest,
    JudicialRequestCustomer,
)
from pdvault.judicial.schemas import (
    DisclosedCustomer,
    Disclosure,
    JudicialPage,
    JudicialRequestIn,
    JudicialRequestOut,
    WithheldCustomer,
)
from pdvault.pagination import split_page, uuid_after
from pdvault.policy import (
    Access,
    AccessDecision,
    Denial,
    Facts,
    JudicialFacts,
    Permit,
    Purpose,
    authorize,
)
from pdvault.runtime import Runtime

PURPOSE = Purpose.JUDICIAL_DISCLOSURE.value


DEFAULT_UNAPPROVED_HOLD_DAYS = 14  # Settings.judicial_unapproved_hold_days


async def customers_on_legal_hold(
    session: AsyncSession,
    customer_ids: Iterable[uuid.UUID],
    now: datetime | None = None,
    *,
    unapproved_hold_days: int = DEFAULT_UNAPPROVED_HOLD_DAYS,
) -> set[uuid.UUID]:
    """The customers an approved, unexpired request names, or a submitted one that is
    unexpired and was filed less than ``unapproved_hold_days`` before ``now``.

    A request nobody approves lapses: it cannot keep a customer from erasure for ever
    (``PDVAULT_JUDICIAL_UNAPPROVED_HOLD_DAYS``). The deletion workflow and the retention
    sweep call this before shredding: a held customer → 409 ``legal_hold``.
    """
    ids = list(customer_ids)
    if not ids:
        return set()
    moment = now or utcnow()
    filed_since = moment - timedelta(days=unapproved_hold_days)
    rows = await session.scalars(
        select(JudicialRequestCustomer.customer_id)
        .join(JudicialRequest, JudicialRequest.id == JudicialRequestCustomer.request_id)
        .where(
            JudicialRequestCustomer.customer_id.in_(ids),
            JudicialRequest.valid_until > moment,
            or_(
                JudicialRequest.status == APPROVED,
                and_(JudicialRequest.status == SUBMITTED, JudicialRequest.filed_at > filed_since),
            ),
        )
    )
    return set(rows.all())


async def is_on_legal_hold(
    session: AsyncSession,
    customer_id: uuid.UUID,
    now: datetime | None = None,
    *,
    unapproved_hold_days: int = DEFAULT_UNAPPROVED_HOLD_DAYS,
) -> bool:
    held = await customers_on_legal_hold(
        session, [customer_id], now, unapproved_hold_days=unapproved_hold_days
    )
    return customer_id in held


class JudicialService:
    def __init__(self, runtime: Runtime, session: AsyncSession, actor: Actor) -> None:
        self.runtime, self.session, self.actor = runtime, session, actor
        self.access = AuditedAccess(runtime, session, actor)

    async def _named(self, request_id: uuid.UUID) -> list[uuid.UUID]:
        rows = await self.session.scalars(
            select(JudicialRequestCustomer.customer_id)
            .where(JudicialRequestCustomer.request_id == request_id)
            .order_by(JudicialRequestCustomer.customer_id)
        )
        return list(rows.all())

    def _out(self, req: JudicialRequest, customer_ids: Sequence[uuid.UUID]) -> JudicialRequestOut:
        return JudicialRequestOut(
            id=req.id,
            status=req.status,
            expired=req.valid_until <= utcnow(),
            authority_type=req.authority_type,
            authority_name=req.authority_name,
            document_number=req.document_number,
            document_date=req.document_date,
            legal_basis=req.legal_basis,
            case_reference=req.case_reference,
            customer_ids=list(customer_ids),
            fields=list(req.fields),
            valid_until=req.valid_until,
            filed_by=req.filed_by,
            filed_at=req.filed_at,
            decided_by=req.decided_by,
            decided_at=req.decided_at,
            rejection_reason=req.rejection_reason,
        )

    async def _log(self, action: str, request_id: uuid.UUID) -> None:
        await self.runtime.audit.append(
            self.session,
            self.actor,
            EventDraft(action=action, outcome=ALLOWED, basis=f"judicial_request:{request_id}"),
        )

    async def file(self, data: JudicialRequestIn) -> JudicialRequestOut:
        now = utcnow()
        if data.valid_until <= now:
            raise Unprocessable(
                "valid_until must be in the future.",
                errors=[{"loc": ["body", "valid_until"], "msg": "must be in the future"}],
            )
        ids = list(dict.fromkeys(data.customer_ids))
        known = set(
            (await self.session.scalars(select(Customer.id).where(Customer.id.in_(ids)))).all()
        )
        # indexes into the body as sent, so a repeated id before an unknown one counts
        missing = [i for i, cid in enumerate(data.customer_ids) if cid not in known]
        if missing:
            raise Unprocessable(
                "Every customer named must exist.",
                errors=[
                    {"loc": ["body", "customer_ids", str(i)], "msg": "unknown customer"}
                    for i in missing
                ],
            )
        req = JudicialRequest(
            id=new_id(),
            authority_type=data.authority_type,
            authority_name=data.authority_name,
            document_number=data.document_number,
            document_date=data.document_date,
            legal_basis=data.legal_basis,
            case_reference=data.case_reference,
            fields=list(dict.fromkeys(data.fields)),
            valid_until=data.valid_until,
            status=SUBMITTED,
            filed_by=self.actor.principal_id,
            filed_at=now,
        )
        self.session.add(req)
        await self.session.flush()
        self.session.add_all(JudicialRequestCustomer(request_id=req.id, customer_id=c) for c in ids)
        await self.session.flush()
        await self._log("judicial.file", req.id)
        return self._out(req, sorted(ids))

    async def get(self, request_id: uuid.UUID) -> JudicialRequestOut:
        req = await self._request(request_id)
        await self._log("judicial.read", req.id)
        return self._out(req, await self._named(req.id))

    async def _request(self, request_id: uuid.UUID) -> JudicialRequest:
        req = await self.session.get(JudicialRequest, request_id)
        if req is None:
            raise NotFound("No such judicial request.")
        return req

    async def list(self, limit: int, cursor: str | None, status: str | None) -> JudicialPage:
        query = select(JudicialRequest).order_by(JudicialRequest.id).limit(limit + 1)
        if status is not None:
            query = query.where(JudicialRequest.status == status)
        after = uuid_after(cursor)
        if after is not None:
            query = query.where(JudicialRequest.id > after)
        rows, next_cursor = split_page(
            (await self.session.scalars(query)).all(), limit, lambda r: r.id
        )
        items = [self._out(r, await self._named(r.id)) for r in rows]
        return JudicialPage(items=items, next_cursor=next_cursor)

    async def decide(
        self, request_id: uuid.UUID, approve: bool, reason: str | None = None
    ) -> JudicialRequestOut:
        action = "judicial.approve" if approve else "judicial.reject"
        req = await self._request(request_id)
        if req.filed_by == self.actor.principal_id:
            raise await self.runtime.audit.denied(
                self.session,
                self.actor,
                EventDraft.refusal(action, "four_eyes", basis=f"judicial_request:{req.id}"),
                problem=Conflict(
                    "A request is decided by a DPO who did not file it.", reason="four_eyes"
                ),
            )
        if req.status != SUBMITTED:
            raise Conflict(f"The request is already {req.status}.", reason="invalid_transition")
        now = utcnow()
        if approve and req.valid_until <= now:
            raise Conflict("The request has expired.", reason="request_expired")
        req.status = APPROVED if approve else REJECTED
        req.decided_by = self.actor.principal_id
        req.decided_at = now
        req.rejection_reason = None if approve else reason
        await self.session.flush()
        await self._log(action, req.id)
        return self._out(req, await self._named(req.id))

    async def disclose(
        self,
        request_id: uuid.UUID,
        only_customer: uuid.UUID | None,
        fields: Sequence[str] | None,
    ) -> Disclosure:
        """One access event per customer disclosed, each citing the request as its basis."""
        action = "judicial.disclose"
        req = await self._request(request_id)
        basis = f"judicial_request:{req.id}"
        permit = authorize(self.actor.role, PURPOSE, fields, Access.READ)
        if isinstance(permit, Denial):
            raise await self.access.refused(
                action, permit.reason.value, purpose=PURPOSE, fields=permit.fields, basis=basis
            )
        named = await self._named(req.id)
        targets = [only_customer] if only_customer is not None else named
        now = utcnow()
        disclosed: list[DisclosedCustomer] = []
        withheld: list[WithheldCustomer] = []
        drafts: list[EventDraft] = []
        for customer_id in targets:
            facts = JudicialFacts(
                approved=req.status == APPROVED,
                expired=req.valid_until <= now,
                customer_named=customer_id in named,
                fields=tuple(req.fields),
                basis=basis,
            )
            one = await self._disclose_one(action, permit, customer_id, facts)
            if one is None:
                withheld.append(WithheldCustomer(id=customer_id, reason="erased"))
                continue
            values, decision = one
            disclosed.append(DisclosedCustomer(id=customer_id, fields=values))
            drafts.append(
                EventDraft(
                    action=action,
                    outcome=ALLOWED,
                    customer_id=customer_id,
                    fields=decision.fields,
                    purpose=PURPOSE,
                    basis=basis,
                )
            )
        await self.runtime.audit.append(self.session, self.actor, *drafts)
        return Disclosure(request=self._out(req, named), customers=disclosed, withheld=withheld)

    async def _disclose_one(
        self, action: str, permit: Permit, customer_id: uuid.UUID, facts: JudicialFacts
    ) -> tuple[dict[str, str], AccessDecision] | None:
        """One named customer's fields under the request, or None when it is gone (erased or
        never there): withheld, not refused. A refusal of the request itself is logged."""
        access = self.access
        decision = await access.decide(
            action, customer_id, permit, Facts(judicial=facts), basis=facts.basis
        )
        customer = await self.session.get(Customer, customer_id)
        if customer is None or customer.erased_at is not None:
            return None
        opening = sealing.open_fields(self.runtime.keys, customer, decision.fields)
        values = await access.decrypted(action, opening, customer_id=customer_id, basis=facts.basis)
        return values, decision
