"""Finding customers by email or phone, through their blind indexes; the route commits."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Select, bindparam
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.writer import ALLOWED, DENIED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.customers import justifications, sealing
from pdvault.customers.access import AuditedAccess, denial_reason
from pdvault.customers.facts import CUSTOMERS, SUBJECTS, load_facts, subject_of
from pdvault.customers.models import Customer
from pdvault.customers.schemas import SearchIn
from pdvault.errors import Forbidden
from pdvault.policy import ALL_FIELDS, Access, Permit, allowed_on_justification, decide
from pdvault.runtime import Runtime

logger = logging.getLogger("pdvault.customers")
Match = tuple[Customer, dict[str, bool], dict[str, str]]
Hit = dict[str, Any]


def _by_index(column: str) -> Select[Any]:
    """The live customers whose blind index ``column`` holds the bound ``index``, with their
    consent state: built once per indexed field (issue 17: no per-request statement)."""
    return (
        SUBJECTS.where(CUSTOMERS.c[column] == bindparam("index"), CUSTOMERS.c.erased_at.is_(None))
        .order_by(CUSTOMERS.c.id)
        .limit(100)
    )


_BY_INDEX = {field: _by_index(column) for field, column in sealing.INDEXED_FIELDS.items()}


class CustomerSearch:
    def __init__(self, runtime: Runtime, session: AsyncSession, actor: Actor) -> None:
        self.runtime, self.session, self.actor = runtime, session, actor
        self.access = AuditedAccess(runtime, session, actor)

    async def search(self, query: SearchIn, justification: str | None) -> list[Hit]:
        """The hits as ``SearchHit`` serialises them (``id``, ``fields``), for the route to
        serialise once; refusals and the no-match are logged as one batch of events."""
        action = "customer.search"
        permit = await self.access.permit(
            action, query.purpose, query.fields, Access.READ, where="body"
        )
        matches = await self._matches(action, query)
        hits: list[Hit] = []
        justified: list[Customer] = []
        drafts: list[EventDraft] = []
        first_denial: str | None = None
        for customer, consents, opened in matches:
            facts = await load_facts(
                self.session, customer.id, permit, justification=justification, consents=consents
            )
            decision = decide(permit, facts)
            if not decision.allowed:
                first_denial = first_denial or denial_reason(decision)
                drafts.append(
                    EventDraft(
                        action=action,
                        outcome=DENIED,
                        customer_id=customer.id,
                        fields=decision.fields,
                        purpose=decision.purpose,
                        reason=denial_reason(decision),
                    )
                )
                continue
            values = {field: opened[field] for field in decision.fields}
            hits.append({"id": customer.id, "fields": values})
            drafts.append(EventDraft.allowed(action, customer.id, decision))
            if justification is not None and allowed_on_justification(decision):
                justified.append(customer)
        if not matches:
            drafts.append(_no_match(action, permit))
        if first_denial is not None and not hits:
            problem = Forbidden(f"Access denied: {first_denial}.", reason=first_denial)
            raise await self.runtime.audit.denied(
                self.session, self.actor, *drafts, problem=problem
            )
        if justification is not None:
            await justifications.keep(
                self.runtime, self.session, self.actor, action, justified, justification
            )
        await self.runtime.audit.commit_read(self.session, self.actor, *drafts)
        return hits

    async def _matches(self, action: str, query: SearchIn) -> list[Match]:
        """The live customers whose indexed field holds the searched value, each with its
        consent state and every field opened once (one key unwrap): the searched one to check
        the row holds it, the others for the answer if the decision allows them."""
        key, value = ("email", query.email) if query.email is not None else ("phone", query.phone)
        index = sealing.index_of(self.runtime.keys, key, value or "")
        connection = await self.session.connection()
        rows = await connection.execute(_BY_INDEX[key], {"index": index})
        found = [subject_of(row) for row in rows.mappings()]
        matches: list[Match] = []
        for customer, consents in found:
            opened = await self.access.decrypt_fields(action, customer, ALL_FIELDS)
            if self._holds(opened, key, value or ""):
                matches.append((customer, consents, opened))
        return matches

    def _holds(self, opened: dict[str, str], key: str, value: str) -> bool:
        """Whether the row a blind index led to holds the searched value. A row that does not
        had its index moved in the database: it is no match, and a tamper signal (a warning
        with no value or id, and a metric), never another customer's answer."""
        if sealing.match_form(key, opened[key]) == sealing.match_form(key, value):
            return True
        self.runtime.metrics.integrity_failures.labels("blind_index").inc()
        logger.warning("customer search: a blind index led to a row holding another %s", key)
        return False


def _no_match(action: str, permit: Permit) -> EventDraft:
    return EventDraft(
        action=action, outcome=ALLOWED, purpose=permit.rule.purpose, fields=(), basis="no_match"
    )
