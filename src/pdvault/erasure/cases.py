"""What the policy's ``data_subject_request`` condition asks of the deletion requests."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.erasure.models import DeletionRequest, DeletionStatus


async def open_deletion_request(session: AsyncSession, customer_id: uuid.UUID) -> str | None:
    """The basis a dpo acts under: a pending deletion request on this customer."""
    found = await session.scalar(
        select(DeletionRequest.id)
        .where(
            DeletionRequest.customer_id == customer_id,
            DeletionRequest.status == DeletionStatus.PENDING.value,
        )
        .order_by(DeletionRequest.id)
        .limit(1)
    )
    return f"deletion_request:{found}" if found is not None else None
