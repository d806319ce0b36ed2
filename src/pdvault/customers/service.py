"""Reading and correcting one customer. Every path records its access event; the route
commits. Registration is in ``registration.py``, search in ``search.py``, and the audited
steps every reader shares (404/410, decrypt-or-503, the disclosure) in ``access.py``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.writer import EventDraft
from pdvault.auth.principal import Actor
from pdvault.customers import sealing
from pdvault.customers.access import AuditedAccess
from pdvault.customers.facts import load_facts
from pdvault.customers.models import Customer
from pdvault.customers.registration import DUPLICATE, customer_with_email
from pdvault.customers.schemas import CustomerOut, CustomerPatch
from pdvault.db import utcnow
from pdvault.errors import Conflict, PreconditionFailed
from pdvault.policy import Access, AccessDecision, rule_for
from pdvault.runtime import Runtime


def etag_of(customer: Customer) -> str:
    return f'"{customer.version}"'


def body_of(customer: Customer, purpose: str, values: dict[str, str]) -> dict[str, Any]:
    """``CustomerOut``'s members: what a read answers (serialised once by the hot route) and
    what a correction answers (through the model)."""
    return {
        "id": customer.id,
        "purpose": purpose,
        "fields": values,
        "created_at": customer.created_at,
        "updated_at": customer.updated_at,
        "version": customer.version,
    }


class CustomerService:
    def __init__(self, runtime: Runtime, session: AsyncSession, actor: Actor) -> None:
        self.runtime, self.session, self.actor = runtime, session, actor
        self.access = AuditedAccess(runtime, session, actor)

    async def read(
        self,
        customer_id: uuid.UUID,
        purpose: str | None,
        fields: Sequence[str] | None,
        justification: str | None,
    ) -> tuple[dict[str, Any], str]:
        """The customer's fields for the purpose, and its ETag. The body is ``CustomerOut``'s,
        built once for the hot route to serialise (``deps.hot_response``; no model to
        construct and validate again)."""
        read = await self.access.disclose(
            "customer.read", customer_id, purpose, fields, justification
        )
        body = body_of(read.customer, read.decision.purpose or "", read.values)
        return body, etag_of(read.customer)

    async def update(
        self,
        customer_id: uuid.UUID,
        purpose: str | None,
        patch: CustomerPatch,
        if_match: list[str],
    ) -> tuple[CustomerOut, str]:
        action = "customer.update"
        changes = patch.changes()
        access = self.access
        permit = await access.permit(action, purpose, list(changes), Access.WRITE, customer_id)
        customer = await access.live_customer(action, customer_id, purpose)
        facts = await load_facts(self.session, customer.id, permit)
        decision = await access.decide(action, customer.id, permit, facts)
        await self._check_version(action, customer, decision, if_match)
        if "email" in changes:
            await self._check_email_free(action, customer, decision, changes["email"])
        await self._write(action, customer, decision, changes)
        read_fields = _readable(decision)
        values = await access.decrypt_fields(action, customer, read_fields)
        event = replace(EventDraft.allowed(action, customer.id, decision), fields=read_fields)
        await self.runtime.audit.append(self.session, self.actor, event)
        out = CustomerOut(**body_of(customer, permit.rule.purpose, values))
        return out, etag_of(customer)

    async def _check_version(
        self, action: str, customer: Customer, decision: AccessDecision, if_match: list[str]
    ) -> None:
        """The If-Match precondition: the version the caller read, or ``*``."""
        current = etag_of(customer)
        if "*" not in if_match and current not in if_match:
            raise await self.access.refused(
                action,
                "stale_version",
                customer_id=customer.id,
                purpose=decision.purpose,
                problem=PreconditionFailed(
                    "The customer changed since you read it; read it again.",
                    current_etag=current,
                ),
            )

    async def _check_email_free(
        self, action: str, customer: Customer, decision: AccessDecision, email: str
    ) -> None:
        """A corrected email must not be another live customer's. Logged against the customer
        being corrected, under the purpose used; the other customer's id is not disclosed (a
        correction needs no reference to it)."""
        holder = await customer_with_email(
            self.session, sealing.index_of(self.runtime.keys, "email", email)
        )
        if holder is not None and holder != customer.id:
            raise await self.access.refused(
                action,
                "duplicate_customer",
                customer_id=customer.id,
                purpose=decision.purpose,
                fields=("email",),
                problem=Conflict(DUPLICATE, reason="duplicate_customer"),
            )

    async def _write(
        self, action: str, customer: Customer, decision: AccessDecision, changes: dict[str, str]
    ) -> None:
        """The next version of the row, every field sealed again under it; 412 if another
        write got there first. ``customer`` is refreshed to the new version."""
        columns = await self._resealed(action, customer, changes)
        result = await self.session.execute(
            update(Customer)
            .where(Customer.id == customer.id, Customer.version == customer.version)
            .values(**columns, updated_at=utcnow())
        )
        if getattr(result, "rowcount", 1) != 1:
            raise await self.access.refused(
                action,
                "stale_version",
                customer_id=customer.id,
                purpose=decision.purpose,
                problem=PreconditionFailed("The customer changed while updating; retry."),
            )
        await self.session.refresh(customer)

    async def _resealed(
        self, action: str, customer: Customer, changes: dict[str, str]
    ) -> dict[str, Any]:
        """The row's columns for its next version: every field sealed again under it."""

        async def reseal() -> dict[str, Any]:
            data_key = await sealing.data_key_of(self.runtime.keys, customer)
            return sealing.reseal(self.runtime.keys, data_key, customer, changes)

        return await self.access.decrypted(
            action, reseal(), customer_id=customer.id, outcome="nothing was changed"
        )


def _readable(decision: AccessDecision) -> tuple[str, ...]:
    """After a write, the response shows every field the purpose may read."""
    rule = rule_for(decision.purpose or "")
    if rule is None or Access.READ not in rule.access:
        return decision.fields
    return rule.fields
