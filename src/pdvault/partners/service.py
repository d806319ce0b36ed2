"""Partners, their grants and assignments, and the partner's own view of a customer."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.customers.access import NO_SUCH_CUSTOMER, AuditedAccess
from pdvault.customers.facts import CUSTOMERS, SUBJECTS, subject_of
from pdvault.customers.models import Customer
from pdvault.db import new_id, utcnow
from pdvault.errors import Conflict, NotFound, Unprocessable
from pdvault.pagination import split_page, uuid_after
from pdvault.partners.masking import apply_masks
from pdvault.partners.models import Assignment, Grant, Partner
from pdvault.partners.schemas import (
    AssignmentIn,
    AssignmentOut,
    AssignmentPage,
    GrantIn,
    GrantOut,
    GrantPage,
    PartnerIn,
    PartnerOut,
    PartnerPage,
)
from pdvault.policy import Facts, PartnerFacts, Permit, Reason
from pdvault.runtime import Runtime


def grant_out(g: Grant) -> GrantOut:
    return GrantOut.model_validate(g, from_attributes=True)


def assignment_out(a: Assignment) -> AssignmentOut:
    return AssignmentOut.model_validate(a, from_attributes=True)


def grant_is_valid(grant: Grant, now: datetime) -> bool:
    return grant.revoked_at is None and grant.valid_from <= now < grant.valid_until


def assignment_is_valid(assignment: Assignment, now: datetime) -> bool:
    return assignment.revoked_at is None and now < assignment.expires_at


def merge_grants(grants: Sequence[Grant], purpose: str, now: datetime) -> PartnerFacts:
    """The partner's standing for a purpose: no grant, only lapsed ones, or the valid fields.

    Revoked grants count as absent. Several valid grants combine; ``plain`` beats ``masked``.
    """
    relevant = [g for g in grants if g.revoked_at is None and purpose in g.purposes]
    valid = [g for g in relevant if grant_is_valid(g, now)]
    modes: dict[str, str] = {}
    for grant in valid:
        for field, mode in grant.fields.items():
            if modes.get(field) != "plain":
                modes[field] = mode
    return PartnerFacts(
        grant_found=bool(relevant),
        grant_valid=bool(valid),
        assignment_valid=False,
        field_modes=modes,
    )


class PartnerService:
    def __init__(self, runtime: Runtime, session: AsyncSession, actor: Actor) -> None:
        self.runtime, self.session, self.actor = runtime, session, actor
        self.access = AuditedAccess(runtime, session, actor)

    async def _log(self, action: str, **kw: object) -> None:
        await self.runtime.audit.append(
            self.session,
            self.actor,
            EventDraft(action=action, outcome=ALLOWED, **kw),  # type: ignore[arg-type]
        )

    # -- administration -----------------------------------------------------------------

    async def create_partner(self, data: PartnerIn) -> PartnerOut:
        taken = await self.session.scalar(select(Partner.id).where(Partner.name == data.name))
        if taken is not None:
            raise Conflict("A partner with this name exists.", reason="duplicate_partner")
        partner = Partner(
            id=new_id(), name=data.name, contract_ref=data.contract_ref, created_at=utcnow()
        )
        self.session.add(partner)
        await self.session.flush()
        await self._log("partner.create")
        return PartnerOut.model_validate(partner, from_attributes=True)

    async def list_partners(self, limit: int, cursor: str | None) -> PartnerPage:
        query = select(Partner).order_by(Partner.id).limit(limit + 1)
        after = uuid_after(cursor)
        if after is not None:
            query = query.where(Partner.id > after)
        rows, next_cursor = split_page(
            (await self.session.scalars(query)).all(), limit, lambda p: p.id
        )
        return PartnerPage(
            items=[PartnerOut.model_validate(p, from_attributes=True) for p in rows],
            next_cursor=next_cursor,
        )

    async def partner(self, partner_id: uuid.UUID) -> Partner:
        partner = await self.session.get(Partner, partner_id)
        if partner is None:
            raise NotFound("No such partner.")
        return partner

    async def create_grant(self, partner_id: uuid.UUID, data: GrantIn) -> GrantOut:
        await self.partner(partner_id)
        grant = Grant(
            id=new_id(),
            partner_id=partner_id,
            contract_ref=data.contract_ref,
            purposes=list(dict.fromkeys(data.purposes)),
            fields=dict(data.fields),
            valid_from=data.valid_from,
            valid_until=data.valid_until,
            created_at=utcnow(),
        )
        self.session.add(grant)
        await self.session.flush()
        await self._log("grant.create", basis=f"grant:{grant.id}")
        return grant_out(grant)

    async def list_grants(self, partner_id: uuid.UUID, limit: int, cursor: str | None) -> GrantPage:
        await self.partner(partner_id)
        query = (
            select(Grant).where(Grant.partner_id == partner_id).order_by(Grant.id).limit(limit + 1)
        )
        after = uuid_after(cursor)
        if after is not None:
            query = query.where(Grant.id > after)
        rows, next_cursor = split_page(
            (await self.session.scalars(query)).all(), limit, lambda g: g.id
        )
        return GrantPage(items=[grant_out(g) for g in rows], next_cursor=next_cursor)

    async def revoke_grant(self, partner_id: uuid.UUID, grant_id: uuid.UUID) -> GrantOut:
        grant = await self.session.get(Grant, grant_id)
        if grant is None or grant.partner_id != partner_id:
            raise NotFound("No such grant.")
        if grant.revoked_at is None:
            grant.revoked_at = utcnow()
        await self.session.flush()
        await self._log("grant.revoke", basis=f"grant:{grant.id}")
        return grant_out(grant)

    # -- assignments ----------------------------------------------------------------------

    async def create_assignment(self, partner_id: uuid.UUID, data: AssignmentIn) -> AssignmentOut:
        action = "assignment.create"
        await self.partner(partner_id)
        now = utcnow()
        if data.expires_at <= now:
            raise Unprocessable(
                "expires_at must be in the future.",
                errors=[{"loc": ["body", "expires_at"], "msg": "must be in the future"}],
            )
        customer = await self.access.live_customer(action, data.customer_id, data.purpose)
        assignment = Assignment(
            id=new_id(),
            partner_id=partner_id,
            customer_id=customer.id,
            purpose=data.purpose,
            reference=data.reference,
            expires_at=data.expires_at,
            created_at=now,
            created_by=self.actor.principal_id,
        )
        self.session.add(assignment)
        await self.session.flush()
        await self._log(
            action,
            customer_id=customer.id,
            purpose=data.purpose,
            basis=f"assignment:{assignment.id}",
        )
        return assignment_out(assignment)

    async def revoke_assignment(
        self, partner_id: uuid.UUID, assignment_id: uuid.UUID
    ) -> AssignmentOut:
        assignment = await self.session.get(Assignment, assignment_id)
        if assignment is None or assignment.partner_id != partner_id:
            raise NotFound("No such assignment.")
        if assignment.revoked_at is None:
            assignment.revoked_at = utcnow()
        await self.session.flush()
        await self._log(
            "assignment.revoke",
            customer_id=assignment.customer_id,
            purpose=assignment.purpose,
            basis=f"assignment:{assignment_id}",
        )
        return assignment_out(assignment)

    # -- the partner's own view -------------------------------------------------------------

    def _partner_id(self) -> uuid.UUID:
        if self.actor.partner_id is None:  # a partner principal always has one
            raise NotFound(NO_SUCH_CUSTOMER)
        return self.actor.partner_id

    async def partner_assignments(self, partner_id: uuid.UUID, limit: int) -> list[AssignmentOut]:
        """A partner's assignments, newest first, revoked and lapsed ones too (the console's
        partner page): customer ids and job references, no personal value."""
        rows = await self.session.scalars(
            select(Assignment)
            .where(Assignment.partner_id == partner_id)
            .order_by(Assignment.id.desc())
            .limit(limit)
        )
        return [assignment_out(a) for a in rows]

    async def own_assignments(self, limit: int, cursor: str | None) -> AssignmentPage:
        now = utcnow()
        query = (
            select(Assignment)
            .where(
                Assignment.partner_id == self._partner_id(),
                Assignment.revoked_at.is_(None),
                Assignment.expires_at > now,
            )
            .order_by(Assignment.id)
            .limit(limit + 1)
        )
        after = uuid_after(cursor)
        if after is not None:
            query = query.where(Assignment.id > after)
        rows, next_cursor = split_page(
            (await self.session.scalars(query)).all(), limit, lambda a: a.id
        )
        await self._log("partner.assignments", basis="own_assignments")
        return AssignmentPage(items=[assignment_out(a) for a in rows], next_cursor=next_cursor)

    async def read_customer(
        self, customer_id: uuid.UUID, purpose: str | None, fields: Sequence[str] | None
    ) -> dict[str, Any]:
        """The customer's read path (``AuditedAccess.disclose``: same rules, same events),
        with the partner's standing as its facts: grant first (partner-level: reveals nothing
        about the customer), then assignment. The body is ``PartnerCustomerOut``'s, built once
        for the hot route to serialise (``deps.hot_response``).

        No valid assignment answers exactly like a customer that does not exist, so a partner
        cannot probe which ids are customers; the event records the real reason.
        """
        action = "partner.customer.read"

        async def subject(permit: Permit) -> tuple[Customer, Facts]:
            return await self._partner_subject(action, customer_id, purpose, permit)

        read = await self.access.disclose(action, customer_id, purpose, fields, subject=subject)
        decision = read.decision
        return {
            "id": read.customer.id,
            "purpose": decision.purpose or "",
            "fields": apply_masks(read.values, decision.masked),
            "masked": [f for f in decision.fields if f in decision.masked],
        }

    async def _partner_subject(
        self, action: str, customer_id: uuid.UUID, purpose: str | None, permit: Permit
    ) -> tuple[Customer, Facts]:
        """The live, assigned customer and the partner's facts about it, or a logged refusal:
        no valid grant (403), no valid assignment (404, like no customer), erased (410).
        The grants, the customer, its consent state and the assignment in one statement."""
        now, partner_id = utcnow(), self._partner_id()
        connection = await self.session.connection()
        params = {
            "partner_id": partner_id,
            "customer_id": customer_id,
            "purpose": purpose or "",
            "now": now,
        }
        rows = (await connection.execute(_PARTNER_READ, params)).all()
        grants = [Grant(**{name: row._mapping[f"grant_{name}"] for name in _TERMS}) for row in rows]
        standing = merge_grants(grants, permit.rule.purpose.value, now)
        if not standing.grant_found or not standing.grant_valid:
            reason = Reason.GRANT_MISSING if not standing.grant_found else Reason.GRANT_EXPIRED
            raise await self.access.refused(
                action, reason.value, customer_id=customer_id, purpose=purpose, fields=permit.fields
            )
        row = rows[0]
        assignment = row._mapping["assignment_id"]
        if row._mapping["id"] is None or assignment is None:  # no customer, no assignment
            raise await self.access.refused(
                action,
                Reason.ASSIGNMENT_MISSING.value,
                customer_id=customer_id,
                purpose=purpose,
                fields=permit.fields,
                problem=NotFound(NO_SUCH_CUSTOMER),
            )
        found, consents = subject_of(row._mapping)
        customer = await self.access.require_live(action, customer_id, found, purpose)
        partner = PartnerFacts(
            grant_found=True,
            grant_valid=True,
            assignment_valid=True,
            field_modes=standing.field_modes,
            basis=f"assignment:{assignment}",
        )
        facts = Facts(processing_consent=consents.get("processing", False), partner=partner)
        return customer, facts


# The partner read's one statement (issue 17), built once: each of the partner's grants, and
# beside each the customer, its consent state and the id of a valid assignment of it to this
# partner for this purpose (NULL when there is none; every customer column NULL when there is
# no such customer). No grant, no row: the grant is decided first, revealing nothing about
# the customer.
GRANTS = cast(Table, Grant.__table__)
ASSIGNMENTS = cast(Table, Assignment.__table__)
_TERMS = ("purposes", "fields", "valid_from", "valid_until", "revoked_at")
_ASSIGNED = (
    select(ASSIGNMENTS.c.id)
    .where(
        ASSIGNMENTS.c.partner_id == bindparam("partner_id"),
        ASSIGNMENTS.c.customer_id == CUSTOMERS.c.id,
        ASSIGNMENTS.c.purpose == bindparam("purpose"),
        ASSIGNMENTS.c.revoked_at.is_(None),
        ASSIGNMENTS.c.expires_at > bindparam("now"),
    )
    .limit(1)
    .correlate(CUSTOMERS)
    .scalar_subquery()
    .label("assignment_id")
)
_SUBJECT = (
    SUBJECTS.add_columns(_ASSIGNED)
    .where(CUSTOMERS.c.id == bindparam("customer_id"))
    .subquery("subject")
)
_PARTNER_READ = (
    select(*(GRANTS.c[name].label(f"grant_{name}") for name in _TERMS), _SUBJECT)
    .select_from(GRANTS.outerjoin(_SUBJECT, true()))
    .where(GRANTS.c.partner_id == bindparam("partner_id"))
    .order_by(GRANTS.c.id)
)
