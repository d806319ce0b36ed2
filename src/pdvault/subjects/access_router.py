"""Access requests (an extension of docs/api.md's data-subject requests; docs/decisions.md)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from pdvault.auth.principal import Actor
from pdvault.deps import RuntimeDep, SessionDep, require
from pdvault.openapi_docs import problems
from pdvault.pagination import Cursor, Limit
from pdvault.policy import Operation
from pdvault.subjects.access import AccessRequestService
from pdvault.subjects.schemas import (
    AccessRejectIn,
    AccessRequestIn,
    AccessRequestOut,
    AccessRequestPage,
)

router = APIRouter(prefix="/v1/access-requests", tags=["access requests"])

Dpo = Annotated[Actor, Depends(require(Operation.ACCESS_REQUEST_DECIDE))]


@router.post(
    "",
    status_code=201,
    response_model=AccessRequestOut,
    summary="Record a person's request for everything held on them (storefront, dpo)",
    responses=problems(401, 403, 404, 409, 410, 422, 503),
)
async def file_access_request(
    body: AccessRequestIn,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.ACCESS_REQUEST_FILE))],
) -> AccessRequestOut:
    out = await AccessRequestService(runtime, session, actor).file(body)
    await session.commit()
    return out


@router.get(
    "",
    response_model=AccessRequestPage,
    summary="Access requests, oldest first; filter by status and overdue (dpo, auditor)",
    responses=problems(401, 403, 422, 503),
)
async def list_access_requests(
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.ACCESS_REQUEST_LIST))],
    status: Annotated[Literal["pending", "fulfilled", "rejected"] | None, Query()] = None,
    overdue: Annotated[bool | None, Query(description="Pending past its due time")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AccessRequestPage:
    page = await AccessRequestService(runtime, session, actor).list(status, overdue, limit, cursor)
    await session.commit()
    return page


@router.get(
    "/{request_id}",
    response_model=AccessRequestOut,
    summary="One access request (dpo, auditor)",
    responses=problems(401, 403, 404, 422, 503),
)
async def get_access_request(
    request_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.ACCESS_REQUEST_READ))],
) -> AccessRequestOut:
    out = await AccessRequestService(runtime, session, actor).get(request_id)
    await session.commit()
    return out


@router.post(
    "/{request_id}/fulfil",
    response_model=AccessRequestOut,
    summary="Mark a pending request served (after the export was sent); closes it (dpo)",
    responses=problems(401, 403, 404, 409, 422, 503),
)
async def fulfil_access_request(
    request_id: uuid.UUID, runtime: RuntimeDep, session: SessionDep, actor: Dpo
) -> AccessRequestOut:
    out = await AccessRequestService(runtime, session, actor).fulfil(request_id)
    await session.commit()
    return out


@router.post(
    "/{request_id}/reject",
    response_model=AccessRequestOut,
    summary="Refuse a pending access request, with the reason (dpo)",
    responses=problems(401, 403, 404, 409, 422, 503),
)
async def reject_access_request(
    request_id: uuid.UUID,
    body: AccessRejectIn,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Dpo,
) -> AccessRequestOut:
    out = await AccessRequestService(runtime, session, actor).reject(request_id, body.reason)
    await session.commit()
    return out
