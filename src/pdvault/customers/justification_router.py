"""Issue 14.8: the justifications of ``special_case_support`` reads (auditor, dpo)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from pdvault.auth.principal import Actor
from pdvault.customers import justifications
from pdvault.customers.schemas import JustificationPage
from pdvault.deps import RuntimeDep, SessionDep, require
from pdvault.openapi_docs import problems
from pdvault.pagination import Cursor, Limit
from pdvault.policy import Operation

router = APIRouter(tags=["audit"])


@router.get(
    "/v1/audit/justifications",
    response_model=JustificationPage,
    summary=(
        "Why each special_case_support read happened, oldest first; null once the customer "
        "is erased. Each customer whose text is shown gets an access event (auditor, dpo)"
    ),
    responses=problems(401, 403, 422, 503),
)
async def list_justifications(
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.AUDIT_JUSTIFICATIONS))],
    customer_id: Annotated[uuid.UUID | None, Query()] = None,
    request_id: Annotated[
        str | None,
        Query(max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$", description="An event's request id"),
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> JustificationPage:
    page = await justifications.list_justifications(
        runtime, session, actor, customer_id, request_id, limit, cursor
    )
    await session.commit()
    return page
