"""What the policy's ``data_subject_request`` condition asks of the request registers."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.erasure.models import DeletionRequest
from pdvault.subjects.models import PENDING, AccessRequest, RequestColumns


async def open_request_basis(
    session: AsyncSession, customer_id: uuid.UUID, model: type[RequestColumns], name: str
) -> str | None:
    """The basis an event cites: "deletion_request:<id>", "access_request:<id>"."""
    found = await session.scalar(
        select(model.id)
        .where(model.customer_id == customer_id, model.status == PENDING)
        .order_by(model.id)
        .limit(1)
    )
    return None if found is None else f"{name}:{found}"


async def open_subject_requests(
    session: AsyncSession, customer_id: uuid.UUID
) -> tuple[str | None, str | None]:
    """The pending deletion request's basis and the pending access request's (each or None):
    the policy lets the first open reads and writes, the second only the export."""
    deletion = await open_request_basis(session, customer_id, DeletionRequest, "deletion_request")
    access = await open_request_basis(session, customer_id, AccessRequest, "access_request")
    return deletion, access
