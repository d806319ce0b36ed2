"""Deletion requests: filed, listed, then executed (erasure) or rejected by the dpo."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from pdvault.crypto.envelope import DecryptionError, decrypt_field, encrypt_field
from pdvault.customers import sealing
from pdvault.customers.models import Customer
from pdvault.erasure.ledger import record_settlement
from pdvault.erasure.models import DeletionRequest, DeletionStatus, Shredding
from pdvault.erasure.schemas import DeletionRequestIn, DeletionRequestOut, DeletionRequestPage
from pdvault.erasure.shred import shred_customer
from pdvault.errors import Conflict
from pdvault.judicial.service import is_on_legal_hold
from pdvault.notifications.models import NoticeKind
from pdvault.notifications.service import enqueue, notice_row
from pdvault.policy import ALL_FIELDS
from pdvault.subjects.workflow import RequestWorkflow

EXECUTED = DeletionStatus.EXECUTED.value
log = logging.getLogger("pdvault.erasure")


def note_field(request_id: uuid.UUID) -> str:
    """The associated-data field name of a request's note: bound to that request."""
    return f"deletion_note:{request_id.hex}"


def request_out(
    fields: dict[str, Any], note: str | None = None, shredding: str | None = None
) -> DeletionRequestOut:
    """``fields``: ``RequestWorkflow.fields_of(req)``."""
    return DeletionRequestOut(**fields, note=note, shredding=shredding)


class DeletionService(RequestWorkflow[DeletionRequest]):
    model = DeletionRequest
    action_prefix = "deletion"
    basis_prefix = "deletion_request"
    noun = "deletion request"

    def deadline_hours(self) -> int:
        return self.runtime.settings.deletion_deadline_hours

    async def file(self, data: DeletionRequestIn) -> DeletionRequestOut:
        req, customer = await self.new_request(data.customer_id, data.channel)
        if data.note is not None:
            data_key = await sealing.data_key_of(self.runtime.keys, customer)
            req.note_ct = encrypt_field(data_key, customer.id, note_field(req.id), data.note)
        await self.add(req)
        return request_out(await self.fields_of(req), shredding=req.shredding)

    async def list(
        self, status: str | None, overdue: bool | None, limit: int, cursor: str | None
    ) -> DeletionRequestPage:
        rows, next_cursor = await self.page(status, overdue, limit, cursor)
        return DeletionRequestPage(
            items=[request_out(await self.fields_of(r), shredding=r.shredding) for r in rows],
            next_cursor=next_cursor,
        )

    async def get(self, request_id: uuid.UUID, with_note: bool) -> DeletionRequestOut:
        action = self.action("read")
        req = await self.locked(action, request_id)
        note = await self.note_of(req) if with_note else None
        await self.log(action, req)
        return request_out(await self.fields_of(req), note, req.shredding)

    async def note_of(self, req: DeletionRequest) -> str | None:
        """The customer's own words, while their data key exists (erasure shreds them)."""
        if req.note_ct is None:
            return None
        customer = await self.session.get(Customer, req.customer_id)
        if customer is None or customer.wrapped_dek is None:
            return None
        data_key = await sealing.data_key_of(self.runtime.keys, customer)
        try:
            return decrypt_field(data_key, customer.id, note_field(req.id), req.note_ct)
        except DecryptionError:
            return None

    async def approve(self, request_id: uuid.UUID) -> DeletionRequestOut:
        """Erase now, in this transaction: shredding, the request's outcome, the notice."""
        action = self.action("execute")
        req = await self.pending(action, request_id)
        if await is_on_legal_hold(
            self.session,
            req.customer_id,
            unapproved_hold_days=self.runtime.settings.judicial_unapproved_hold_days,
        ):
            raise await self.refuse(
                action,
                "legal_hold",
                Conflict(
                    "An open judicial request holds this customer; it cannot be erased now.",
                    reason="legal_hold",
                ),
                req.customer_id,
            )
        now = self.close(req, EXECUTED)
        # Pending until storage is settled after the commit (``settle``); a crash in between
        # leaves it pending for ``pdvault retention sweep``.
        req.shredding = Shredding.PENDING.value
        await shred_customer(self.session, req.customer_id, now)
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
        await self.log(action, req, ALL_FIELDS)
        return request_out(await self.fields_of(req), shredding=req.shredding)

    async def settle(self, out: DeletionRequestOut, settled: bool) -> DeletionRequestOut:
        """After the erasure's commit: record whether it has left the database files."""
        if not settled:
            log.warning("erasure pending: a reader holds an older snapshot; the sweep settles it")
        await record_settlement(
            self.session, self.runtime.audit, self.actor, [(out.id, out.customer_id)], settled
        )
        state = Shredding.COMPLETE if settled else Shredding.PENDING
        return out.model_copy(update={"shredding": state.value})

    async def reject(self, request_id: uuid.UUID, reason: str) -> DeletionRequestOut:
        return request_out(await self.fields_of(await self.reject_request(request_id, reason)))
