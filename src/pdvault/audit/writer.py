"""The write path of the access log. Every data access, allowed or denied, passes here.

Events are added to the request's transaction; the caller commits before any personal data
leaves, so an event that cannot be written means the caller gets 503 and no data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.models import AccessEvent
from pdvault.auth.principal import Actor
from pdvault.db import utcnow
from pdvault.errors import Forbidden, Problem
from pdvault.observability import Metrics, request_id_var
from pdvault.policy import rule_for

ALLOWED, DENIED = "allowed", "denied"


@dataclass(frozen=True)
class EventDraft:
    action: str
    outcome: str
    customer_id: uuid.UUID | None = None
    fields: Sequence[str] = ()
    purpose: str | None = None
    basis: str | None = None
    reason: str | None = None


class AuditLog:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def write(
        self, session: AsyncSession, actor: Actor | None, drafts: Iterable[EventDraft]
    ) -> None:
        now = utcnow()
        rid = request_id_var.get()
        rows = [
            {
                "at": now,
                "request_id": rid,
                "principal_id": actor.principal_id if actor else None,
                "role": actor.role.value if actor else None,
                "action": d.action,
                "customer_id": d.customer_id,
                "fields": list(d.fields),
                "purpose": d.purpose,
                "basis": d.basis,
                "outcome": d.outcome,
                "reason": d.reason,
            }
            for d in drafts
        ]
        if not rows:
            return
        await session.execute(insert(AccessEvent), rows)
        for row in rows:
            self.metrics.access_events.labels(row["outcome"]).inc()
            if row["reason"] and row["outcome"] == DENIED:
                self.metrics.denials.labels(row["reason"]).inc()

    async def record(self, session: AsyncSession, actor: Actor | None, draft: EventDraft) -> None:
        await self.write(session, actor, [draft])

    async def refuse(
        self,
        session: AsyncSession,
        actor: Actor | None,
        draft: EventDraft,
        problem: Problem | None = None,
    ) -> NoReturn:
        """Log a refusal durably, then raise it. Nothing else in the transaction survives."""
        await session.rollback()
        await self.record(session, actor, draft)
        await session.commit()
        if problem is None:
            problem = Forbidden(f"Access denied: {draft.reason}.", reason=draft.reason)
        raise problem

    async def deny(
        self,
        session: AsyncSession,
        actor: Actor | None,
        action: str,
        reason: str,
        *,
        customer_id: uuid.UUID | None = None,
        purpose: str | None = None,
        fields: Sequence[str] = (),
        basis: str | None = None,
        problem: Problem | None = None,
    ) -> NoReturn:
        """``refuse`` with the event spelled out; 403 with ``reason`` unless ``problem``."""
        await self.refuse(
            session,
            actor,
            EventDraft(
                action=action,
                outcome=DENIED,
                customer_id=customer_id,
                fields=tuple(fields),
                purpose=purpose if purpose and rule_for(purpose) else None,
                basis=basis,
                reason=reason,
            ),
            problem,
        )
