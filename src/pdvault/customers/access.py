"""The one way in to a customer's personal data, each outcome logged.

Every reader of personal data goes through ``AuditedAccess``: the policy's permit, the audited
load of a live customer (404 unknown, 410 erased), the decision, decryption (a stored value
that fails its check, or a missing key, is the 503 refusal), and the read's event. A refusal
is returned, committed, for the caller to raise: ``raise await access.refused(...)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.writer import EventDraft
from pdvault.auth.principal import Actor
from pdvault.crypto.envelope import DecryptionError
from pdvault.customers import justifications, sealing
from pdvault.customers.facts import load_facts, load_subject
from pdvault.customers.models import Customer
from pdvault.errors import Gone, NotFound, Problem, ServiceUnavailable
from pdvault.policy import (
    Access,
    AccessDecision,
    Denial,
    Facts,
    Permit,
    Reason,
    allowed_on_justification,
    authorize,
    decide,
)
from pdvault.policy.explain import purpose_refusal
from pdvault.runtime import Runtime

T = TypeVar("T")
NO_SUCH_CUSTOMER = "No such customer."
ERASED = "This customer's personal data has been erased."

# What a disclosure knows of its customer once the permit is granted: the live customer and
# the facts the policy decides on. The customer's own read loads them from the customer's
# consents and cases; a partner's read from its grants and assignment.
SubjectStep = Callable[[Permit], Awaitable[tuple[Customer, Facts]]]


def denial_reason(decision: AccessDecision) -> str:
    """The reason a refused decision is logged and answered with."""
    return decision.reason.value if decision.reason is not None else "denied"


@dataclass(frozen=True)
class Disclosed:
    customer: Customer
    decision: AccessDecision
    values: dict[str, str]


class AuditedAccess:
    def __init__(self, runtime: Runtime, session: AsyncSession, actor: Actor) -> None:
        self.runtime, self.session, self.actor = runtime, session, actor

    async def refused(
        self,
        action: str,
        reason: str,
        *,
        customer_id: uuid.UUID | None = None,
        purpose: str | None = None,
        fields: Sequence[str] = (),
        basis: str | None = None,
        problem: Problem | None = None,
    ) -> Problem:
        """The refusal's event, committed; the error is returned for the caller to raise."""
        draft = EventDraft.refusal(
            action, reason, customer_id=customer_id, purpose=purpose, fields=fields, basis=basis
        )
        return await self.runtime.audit.denied(self.session, self.actor, draft, problem=problem)

    async def permit(
        self,
        action: str,
        purpose: str | None,
        fields: Sequence[str] | None,
        access: Access,
        customer_id: uuid.UUID | None = None,
        where: Literal["query", "body"] = "query",
    ) -> Permit:
        """What the caller's role may do for ``purpose``, or a logged refusal."""
        permit = authorize(self.actor.role, purpose, fields, access)
        if isinstance(permit, Denial):
            raise await self.refused(
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

    async def live_customer(
        self, action: str, customer_id: uuid.UUID, purpose: str | None = None
    ) -> Customer:
        """The customer, or a logged refusal: 404 when there is none, 410 when erased."""
        found = await self.session.get(Customer, customer_id)
        return await self.require_live(action, customer_id, found, purpose)

    async def live_subject(
        self, action: str, customer_id: uuid.UUID, purpose: str | None = None
    ) -> tuple[Customer, dict[str, bool]]:
        """``live_customer`` and the customer's consent state, in one statement."""
        subject = await load_subject(self.session, customer_id)
        found, consents = subject if subject is not None else (None, {})
        return await self.require_live(action, customer_id, found, purpose), consents

    async def require_live(
        self,
        action: str,
        customer_id: uuid.UUID,
        found: Customer | None,
        purpose: str | None = None,
    ) -> Customer:
        """``found`` (the customer loaded by ``customer_id``) if live; else 404 or 410, logged."""
        if found is None:
            raise await self.refused(
                action,
                "not_found",
                customer_id=customer_id,
                purpose=purpose,
                problem=NotFound(NO_SUCH_CUSTOMER),
            )
        if found.erased_at is not None:
            raise await self.refused(
                action, "erased", customer_id=customer_id, purpose=purpose, problem=Gone(ERASED)
            )
        return found

    async def decide(
        self,
        action: str,
        customer_id: uuid.UUID,
        permit: Permit,
        facts: Facts,
        basis: str | None = None,
    ) -> AccessDecision:
        """The policy's decision on this customer, or a logged refusal naming its reason."""
        decision = decide(permit, facts)
        if not decision.allowed:
            raise await self.refused(
                action,
                denial_reason(decision),
                customer_id=customer_id,
                purpose=decision.purpose,
                fields=decision.fields,
                basis=basis,
            )
        return decision

    async def decrypted(
        self,
        action: str,
        opening: Awaitable[T],
        *,
        customer_id: uuid.UUID | None,
        purpose: str | None = None,
        basis: str | None = None,
        what: str = "A stored value",
        outcome: str = "nothing was disclosed",
    ) -> T:
        """``opening``'s result. A value that fails its integrity check, or whose key is
        missing, is refused (logged) as 503 naming nothing: the one place that says so."""
        try:
            return await opening
        except DecryptionError:
            raise await self.refused(
                action,
                "integrity_failure",
                customer_id=customer_id,
                purpose=purpose,
                basis=basis,
                problem=ServiceUnavailable(f"{what} failed its integrity check; {outcome}."),
            ) from None

    async def decrypt_fields(
        self, action: str, customer: Customer, fields: Sequence[str]
    ) -> dict[str, str]:
        """The plaintext of ``fields``, or the logged 503."""
        opening = sealing.open_fields(self.runtime.keys, customer, fields)
        return await self.decrypted(action, opening, customer_id=customer.id)

    async def disclose(
        self,
        action: str,
        customer_id: uuid.UUID,
        purpose: str | None,
        fields: Sequence[str] | None = None,
        justification: str | None = None,
        *,
        export: bool = False,
        subject: SubjectStep | None = None,
    ) -> Disclosed:
        """The whole read path: permit, live customer and facts (``subject``; by default the
        customer's own), decision, decryption, and the read's event committed before return.
        ``export``: the read produces the customer's export (``export.py``)."""
        permit = await self.permit(action, purpose, fields, Access.READ, customer_id)
        if subject is None:
            customer, facts = await self._subject(
                action, customer_id, purpose, permit, export, justification
            )
        else:
            customer, facts = await subject(permit)
        decision = await self.decide(action, customer.id, permit, facts)
        values = await self.decrypt_fields(action, customer, decision.fields)
        if justification is not None and allowed_on_justification(decision):
            await justifications.keep(
                self.runtime, self.session, self.actor, action, [customer], justification
            )
        event = EventDraft.allowed(action, customer.id, decision)
        await self.runtime.audit.commit_read(self.session, self.actor, event)
        return Disclosed(customer, decision, values)

    async def _subject(
        self,
        action: str,
        customer_id: uuid.UUID,
        purpose: str | None,
        permit: Permit,
        export: bool,
        justification: str | None,
    ) -> tuple[Customer, Facts]:
        customer, consents = await self.live_subject(action, customer_id, purpose)
        facts = await load_facts(
            self.session,
            customer.id,
            permit,
            justification=justification,
            consents=consents,
            export=export,
        )
        return customer, facts
