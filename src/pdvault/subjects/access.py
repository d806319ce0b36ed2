"""Access requests: a person asks (by letter, hotline …) for everything held on them.

While pending, the dpo may export the customer under ``data_subject_request``; then marks the
request fulfilled (or rejected, with a reason).
"""

from __future__ import annotations

import uuid
from typing import Any

from pdvault.errors import Unprocessable
from pdvault.policy import access_request_needs_reference
from pdvault.subjects.models import AccessRequest
from pdvault.subjects.schemas import AccessRequestIn, AccessRequestOut, AccessRequestPage
from pdvault.subjects.workflow import RequestWorkflow

FULFILLED = "fulfilled"


def access_out(req: AccessRequest, fields: dict[str, Any]) -> AccessRequestOut:
    """``fields``: ``RequestWorkflow.fields_of(req)``."""
    return AccessRequestOut(**fields, reference=req.reference)


class AccessRequestService(RequestWorkflow[AccessRequest]):
    model = AccessRequest
    action_prefix = "access_request"
    basis_prefix = "access_request"
    noun = "access request"

    def deadline_hours(self) -> int:
        return self.runtime.settings.access_request_deadline_hours

    async def file(self, data: AccessRequestIn) -> AccessRequestOut:
        if data.reference is None and access_request_needs_reference(self.actor.role):
            raise await self.refuse(
                self.action("request"),
                "reference_required",
                Unprocessable(
                    "Staff filing an access request must cite the person's own request.",
                    reason="reference_required",
                    errors=[{"loc": ["body", "reference"], "msg": "required"}],
                ),
                data.customer_id,
            )
        req, _ = await self.new_request(data.customer_id, data.channel)
        req.reference = data.reference
        await self.add(req)
        return access_out(req, await self.fields_of(req))

    async def list(
        self, status: str | None, overdue: bool | None, limit: int, cursor: str | None
    ) -> AccessRequestPage:
        rows, next_cursor = await self.page(status, overdue, limit, cursor)
        return AccessRequestPage(
            items=[access_out(r, await self.fields_of(r)) for r in rows], next_cursor=next_cursor
        )

    async def get(self, request_id: uuid.UUID) -> AccessRequestOut:
        action = self.action("read")
        req = await self.locked(action, request_id)
        await self.log(action, req)
        return access_out(req, await self.fields_of(req))

    async def fulfil(self, request_id: uuid.UUID) -> AccessRequestOut:
        action = self.action("fulfil")
        req = await self.pending(action, request_id)
        self.close(req, FULFILLED)
        await self.session.flush()
        await self.log(action, req)
        return access_out(req, await self.fields_of(req))

    async def reject(self, request_id: uuid.UUID, reason: str) -> AccessRequestOut:
        req = await self.reject_request(request_id, reason)
        return access_out(req, await self.fields_of(req))
