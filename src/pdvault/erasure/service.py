"""Deletion requests: filed, listed, then executed (erasure) or rejected by the dpo."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.crypto.envelope import DecryptionError, decrypt_field, encrypt_field
from pdvault.customers import sealing
from pdvault.customers.models import Customer
from pdvault.customers.service import CustomerService
from pdvault.db import new_id, utcnow
from pdvault.erasure.models import DeletionRequest, DeletionStatus
from pdvault.erasure.schemas import (
    DeletionRequestIn,
    DeletionRequestOut,
    DeletionRequestPage,
)
from pdvault.erasure.shred import shred_customer
from pdvault.errors import Conflict, NotFound, Problem
from pdvault.judicial.service import is_on_legal_hold
from pdvault.notifications.models import NoticeKind
from pdvault.notifications.service import enqueue, notice_row
from pdvault.pagination import split_page, uuid_after
from pdvault.policy import ALL_FIELDS, Purpose
from pdvault.vault import Vault

PENDING, EXECUTED, REJECTED = (s.value for s in DeletionStatus)
SUBJECT_REQUEST = Purpose.DATA_SUBJECT_REQUEST.value


def note_field(request_id: uuid.UUID) -> str:
    """The associated-data field name of a request's note: bound to that request."""
    return f"deletion_note:{request_id.hex}"


def request_out(req: DeletionRequest, note: str | None = None) -> DeletionRequestOut:
    now = utcnow()
    return DeletionRequestOut(
        id=req.id,
        customer_id=req.customer_id,
        channel=req.channel,
        status=req.status,
        requested_at=req.requested_at,
        due_at=req.due_at,
        decided_at=req.decided_at,
        overdue=req.status == PENDING and req.due_at < now,
        rejection_reason=req.rejection_reason,
        note=note,
    )


class DeletionService:
    def __init__(self, vault: Vault, session: AsyncSession, actor: Actor) -> None:
        self.vault, self.session, self.actor = vault, session, actor

    async def _refuse(
        self, action: str, reason: str, problem: Problem, customer_id: uuid.UUID | None = None
    ) -> NoReturn:
        await self.vault.audit.deny(
            self.session,
            self.actor,
            action,
            reason,
            customer_id=customer_id,
            purpose=SUBJECT_REQUEST,
            problem=problem,
        )

    async def _log(self, action: str, req: DeletionRequest, fields: tuple[str, ...] = ()) -> None:
        await self.vault.audit.record(
            self.session,
            self.actor,
            EventDraft(
                action=action,
                outcome=ALLOWED,
                customer_id=req.customer_id,
                fields=fields,
                purpose=SUBJECT_REQUEST,
                basis=f"deletion_request:{req.id}",
            ),
        )

    async def file(self, data: DeletionRequestIn) -> DeletionRequestOut:
        action = "deletion.request"
        customers = CustomerService(self.vault, self.session, self.actor)
        customer = await customers.require_live(action, data.customer_id)
        pending = await self.session.scalar(
            select(DeletionRequest.id).where(
                DeletionRequest.customer_id == customer.id, DeletionRequest.status == PENDING
            )
        )
        if pending is not None:
            await self._refuse(
                action,
                "request_pending",
                Conflict(
                    "A deletion request for this customer is already pending.",
                    reason="request_pending",
                    existing_id=str(pending),
                ),
                customer.id,
            )
        now = utcnow()
        req = DeletionRequest(
            id=new_id(),
            customer_id=customer.id,
            channel=data.channel,
            status=PENDING,
            requested_by=self.actor.principal_id,
            requested_at=now,
            due_at=now + timedelta(hours=self.vault.settings.deletion_deadline_hours),
        )
        if data.note is not None:
            data_key = await sealing.data_key_of(self.vault.keys, customer)
            req.note_ct = encrypt_field(data_key, customer.id, note_field(req.id), data.note)
        self.session.add(req)
        await self.session.flush()
        await self._log(action, req)
        return request_out(req)

    async def list(
        self, status: str | None, overdue: bool | None, limit: int, cursor: str | None
    ) -> DeletionRequestPage:
        query = select(DeletionRequest)
        if status is not None:
            query = query.where(DeletionRequest.status == status)
        if overdue is True:
            query = query.where(
                DeletionRequest.status == PENDING, DeletionRequest.due_at < utcnow()
            )
        elif overdue is False:
            query = query.where(
                (DeletionRequest.status != PENDING) | (DeletionRequest.due_at >= utcnow())
            )
        after = uuid_after(cursor)
        if after is not None:
            query = query.where(DeletionRequest.id > after)
        fetched = (
            await self.session.scalars(query.order_by(DeletionRequest.id).limit(limit + 1))
        ).all()
        rows, next_cursor = split_page(fetched, limit, lambda r: r.id)
        await self.vault.audit.record(
            self.session, self.actor, EventDraft(action="deletion.list", outcome=ALLOWED)
        )
        return DeletionRequestPage(items=[request_out(r) for r in rows], next_cursor=next_cursor)

    async def _request(self, action: str, request_id: uuid.UUID) -> DeletionRequest:
        req = await self.session.scalar(
            select(DeletionRequest).where(DeletionRequest.id == request_id).with_for_update()
        )
        if req is None:
            await self._refuse(action, "not_found", NotFound("No such deletion request."))
        return req

    async def get(self, request_id: uuid.UUID, with_note: bool) -> DeletionRequestOut:
        action = "deletion.read"
        req = await self._request(action, request_id)
        note = await self.note_of(req) if with_note else None
        await self._log(action, req)
        return request_out(req, note)

    async def note_of(self, req: DeletionRequest) -> str | None:
        if req.note_ct is None:
            return None
        customer = await self.session.get(Customer, req.customer_id)
        if customer is None or customer.wrapped_dek is None:
            return None
        data_key = await sealing.data_key_of(self.vault.keys, customer)
        try:
            return decrypt_field(data_key, customer.id, note_field(req.id), req.note_ct)
        except DecryptionError:
            return None

    async def _pending(self, action: str, request_id: uuid.UUID) -> DeletionRequest:
        req = await self._request(action, request_id)
        if req.status != PENDING:
            await self._refuse(
                action,
                "invalid_transition",
                Conflict(
                    f"The request is {req.status}; only a pending request can be decided.",
                    reason="invalid_transition",
                ),
                req.customer_id,
            )
        return req

    async def approve(self, request_id: uuid.UUID) -> DeletionRequestOut:
        """Erase now, in this transaction: shredding, the request's outcome, the notice."""
        action = "deletion.execute"
        req = await self._pending(action, request_id)
        if await is_on_legal_hold(self.session, req.customer_id):
            await self._refuse(
                action,
                "legal_hold",
                Conflict(
                    "An open judicial request holds this customer; it cannot be erased now.",
                    reason="legal_hold",
                ),
                req.customer_id,
            )
        now = utcnow()
        await shred_customer(self.session, req.customer_id, now)
        req.status, req.decided_by, req.decided_at = EXECUTED, self.actor.principal_id, now
        await self.session.flush()
        await enqueue(
            self.session,
            [
                notice_row(
                    req.customer_id,
                    NoticeKind.DELETION_EXECUTED.value,
                    {"deletion_request_id": str(req.id), "executed_at": now.isoformat()},
                    dedupe_key=f"deletion:{req.id}",
                )
            ],
        )
        await self._log(action, req, ALL_FIELDS)
        return request_out(req)

    async def reject(self, request_id: uuid.UUID, reason: str) -> DeletionRequestOut:
        action = "deletion.reject"
        req = await self._pending(action, request_id)
        now = utcnow()
        req.status, req.decided_by, req.decided_at = REJECTED, self.actor.principal_id, now
        req.rejection_reason = reason
        await self.session.flush()
        await self._log(action, req)
        return request_out(req)
