"""What the policy's ``data_subject_request`` condition asks of the request registers."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.erasure.models import DeletionRequest
from pdvault.subjects.models import PENDING, AccessRequest, RequestColumns

# The basis an event cites, by register: "deletion_request:<id>", "access_request:<id>".
REGISTERS: tuple[tuple[type[RequestColumns], str], ...] = (
    (DeletionRequest, "deletion_request"),
    (AccessRequest, "access_request"),
)


async def open_subject_request(session: AsyncSession, customer_id: uuid.UUID) -> str | None:
    """The basis a dpo acts under: a pending deletion or access request on this customer."""
    for model, name in REGISTERS:
        found = await session.scalar(
            select(model.id)
            .where(model.customer_id == customer_id, model.status == PENDING)
            .order_by(model.id)
            .limit(1)
        )
        if found is not None:
            return f"{name}:{found}"
    return None
