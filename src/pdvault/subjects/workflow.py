"""The steps every data-subject request register shares: filing, listing, deciding, logging.

A register (deletion requests, access requests) names its table, its words and what
completing a request does; this class keeps the rest in one place, so both answer alike.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.crypto.envelope import DecryptionError
from pdvault.customers import sealing
from pdvault.customers.access import AuditedAccess
from pdvault.customers.models import Customer
from pdvault.db import new_id, utcnow
from pdvault.errors import Conflict, NotFound, Problem
from pdvault.pagination import split_page, uuid_after
from pdvault.policy import Purpose
from pdvault.runtime import Runtime
from pdvault.subjects.models import PENDING, REJECTED, RequestColumns

SUBJECT_REQUEST = Purpose.DATA_SUBJECT_REQUEST.value

R = TypeVar("R", bound=RequestColumns)


def is_overdue(req: RequestColumns, now: datetime) -> bool:
    return req.status == PENDING and req.due_at < now


def request_fields(req: RequestColumns, rejection_reason: str | None) -> dict[str, Any]:
    """What every register answers about a request (its out-schema adds its own);
    ``rejection_reason`` as ``RequestWorkflow.reason_of`` opened it."""
    return {
        "id": req.id,
        "customer_id": req.customer_id,
        "channel": req.channel,
        "status": req.status,
        "requested_at": req.requested_at,
        "due_at": req.due_at,
        "decided_at": req.decided_at,
        "overdue": is_overdue(req, utcnow()),
        "rejection_reason": rejection_reason,
    }


def reason_context(register: str, request_id: uuid.UUID) -> str:
    """The associated data of a sealed rejection reason: bound to its register and request."""
    return f"{register}_rejection:{request_id.hex}"


async def open_reason(
    runtime: Runtime, session: AsyncSession, register: str, req: RequestColumns
) -> str | None:
    """A request's rejection reason, while its customer's data key exists (issue 14.10).

    Sealed under that key since revision 0011; a reason written before it is clear text
    until ``pdvault seal-free-text`` moves it, and is never shown once the customer is erased.
    """
    if req.rejection_reason_ct is None and req.rejection_reason is None:
        return None
    customer = await session.get(Customer, req.customer_id)
    if customer is None or customer.erased_at is not None or customer.wrapped_dek is None:
        return None
    if req.rejection_reason_ct is None:
        return req.rejection_reason
    try:
        return await sealing.open_text(
            runtime.keys, customer, reason_context(register, req.id), req.rejection_reason_ct
        )
    except DecryptionError:
        return None


class RequestWorkflow(Generic[R]):
    model: ClassVar[type[Any]]
    action_prefix: ClassVar[str]  # "deletion": events are deletion.request, deletion.list, …
    basis_prefix: ClassVar[str]  # "deletion_request": the basis "deletion_request:<id>"
    noun: ClassVar[str]  # "deletion request", in problem details

    def __init__(self, runtime: Runtime, session: AsyncSession, actor: Actor) -> None:
        self.runtime, self.session, self.actor = runtime, session, actor

    def action(self, verb: str) -> str:
        return f"{self.action_prefix}.{verb}"

    async def reason_of(self, req: R) -> str | None:
        return await open_reason(self.runtime, self.session, self.basis_prefix, req)

    async def fields_of(self, req: R) -> dict[str, Any]:
        return request_fields(req, await self.reason_of(req))

    def deadline_hours(self) -> int:
        raise NotImplementedError

    async def refuse(
        self, action: str, reason: str, problem: Problem, customer_id: uuid.UUID | None = None
    ) -> Problem:
        return await self.runtime.audit.denied(
            self.session,
            self.actor,
            EventDraft.refusal(action, reason, customer_id=customer_id, purpose=SUBJECT_REQUEST),
            problem=problem,
        )

    async def log(self, action: str, req: R, fields: tuple[str, ...] = ()) -> None:
        await self.runtime.audit.append(
            self.session,
            self.actor,
            EventDraft(
                action=action,
                outcome=ALLOWED,
                customer_id=req.customer_id,
                fields=fields,
                purpose=SUBJECT_REQUEST,
                basis=f"{self.basis_prefix}:{req.id}",
            ),
        )

    async def new_request(self, customer_id: uuid.UUID, channel: str) -> tuple[R, Customer]:
        """A pending request on a live customer that has none pending yet (flushed)."""
        action = self.action("request")
        access = AuditedAccess(self.runtime, self.session, self.actor)
        customer = await access.live_customer(action, customer_id)
        pending = await self.session.scalar(
            select(self.model.id).where(
                self.model.customer_id == customer.id, self.model.status == PENDING
            )
        )
        if pending is not None:
            raise await self.refuse(
                action,
                "request_pending",
                Conflict(
                    f"A {self.noun} for this customer is already pending.",
                    reason="request_pending",
                    existing_id=str(pending),
                ),
                customer.id,
            )
        now = utcnow()
        req: R = self.model(
            id=new_id(),
            customer_id=customer.id,
            channel=channel,
            status=PENDING,
            requested_by=self.actor.principal_id,
            requested_at=now,
            due_at=now + timedelta(hours=self.deadline_hours()),
        )
        return req, customer

    async def add(self, req: R) -> None:
        self.session.add(req)
        await self.session.flush()
        await self.log(self.action("request"), req)

    async def page(
        self, status: str | None, overdue: bool | None, limit: int, cursor: str | None
    ) -> tuple[list[R], str | None]:
        m = self.model
        query = select(m)
        if status is not None:
            query = query.where(m.status == status)
        now = utcnow()
        if overdue is True:
            query = query.where(m.status == PENDING, m.due_at < now)
        elif overdue is False:
            query = query.where((m.status != PENDING) | (m.due_at >= now))
        after = uuid_after(cursor)
        if after is not None:
            query = query.where(m.id > after)
        fetched = (await self.session.scalars(query.order_by(m.id).limit(limit + 1))).all()
        rows, next_cursor = split_page(fetched, limit, lambda r: r.id)
        await self.runtime.audit.append(
            self.session, self.actor, EventDraft(action=self.action("list"), outcome=ALLOWED)
        )
        return rows, next_cursor

    async def locked(self, action: str, request_id: uuid.UUID) -> R:
        """The request, its row locked for the rest of the transaction (PostgreSQL)."""
        req: R | None = await self.session.scalar(
            select(self.model).where(self.model.id == request_id).with_for_update()
        )
        if req is None:
            raise await self.refuse(action, "not_found", NotFound(f"No such {self.noun}."))
        return req

    async def pending(self, action: str, request_id: uuid.UUID) -> R:
        req = await self.locked(action, request_id)
        if req.status != PENDING:
            raise await self.refuse(
                action,
                "invalid_transition",
                Conflict(
                    f"The request is {req.status}; only a pending request can be decided.",
                    reason="invalid_transition",
                ),
                req.customer_id,
            )
        return req

    def close(self, req: R, status: str) -> datetime:
        now = utcnow()
        req.status, req.decided_by, req.decided_at = status, self.actor.principal_id, now
        return now

    async def reject_request(self, request_id: uuid.UUID, reason: str) -> R:
        action = self.action("reject")
        req = await self.pending(action, request_id)
        self.close(req, REJECTED)
        customer = await self.session.get(Customer, req.customer_id)
        if customer is not None and customer.wrapped_dek is not None:
            req.rejection_reason_ct = await sealing.seal_text(
                self.runtime.keys, customer, reason_context(self.basis_prefix, req.id), reason
            )
        # else: the customer was erased meanwhile; a reason about them has nowhere to live.
        await self.session.flush()
        await self.log(action, req)
        return req
