"""HTTP endpoints for judicial requests (docs/api.md "Judicial requests")."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from pdvault.auth.principal import Actor
from pdvault.customers.router import parse_fields
from pdvault.deps import RuntimeDep, SessionDep, require
from pdvault.judicial.schemas import (
    EXAMPLE_REQUEST,
    Disclosure,
    JudicialPage,
    JudicialRejectIn,
    JudicialRequestIn,
    JudicialRequestOut,
)
from pdvault.judicial.service import JudicialService
from pdvault.openapi_docs import problems
from pdvault.pagination import Cursor, Limit
from pdvault.policy import Operation

router = APIRouter(prefix="/v1/judicial-requests", tags=["judicial requests"])


@router.post(
    "",
    status_code=201,
    response_model=JudicialRequestOut,
    summary="File a judicial body's request (legal, dpo)",
    responses=problems(401, 403, 422, 503),
    openapi_extra={"requestBody": {"content": {"application/json": {"example": EXAMPLE_REQUEST}}}},
)
async def file_judicial_request(
    body: JudicialRequestIn,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.JUDICIAL_FILE))],
) -> JudicialRequestOut:
    out = await JudicialService(runtime, session, actor).file(body)
    await session.commit()
    return out


@router.get(
    "",
    response_model=JudicialPage,
    summary="List judicial requests (legal, dpo, auditor)",
    responses=problems(401, 403, 422, 503),
)
async def list_judicial_requests(
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.JUDICIAL_LIST))],
    limit: Limit = 50,
    cursor: Cursor = None,
    status: Annotated[Literal["submitted", "approved", "rejected"] | None, Query()] = None,
) -> JudicialPage:
    return await JudicialService(runtime, session, actor).list(limit, cursor, status)


@router.get(
    "/{request_id}",
    response_model=JudicialRequestOut,
    summary="One judicial request (legal, dpo, auditor)",
    responses=problems(401, 403, 404, 422, 503),
)
async def get_judicial_request(
    request_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.JUDICIAL_READ))],
) -> JudicialRequestOut:
    out = await JudicialService(runtime, session, actor).get(request_id)
    await session.commit()
    return out


@router.post(
    "/{request_id}/approve",
    response_model=JudicialRequestOut,
    summary="Approve a request: a DPO who did not file it (dpo)",
    responses=problems(401, 403, 404, 409, 422, 503),
)
async def approve_judicial_request(
    request_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.JUDICIAL_DECIDE))],
) -> JudicialRequestOut:
    out = await JudicialService(runtime, session, actor).decide(request_id, approve=True)
    await session.commit()
    return out


@router.post(
    "/{request_id}/reject",
    response_model=JudicialRequestOut,
    summary="Reject a request with a reason: a DPO who did not file it (dpo)",
    responses=problems(401, 403, 404, 409, 422, 503),
)
async def reject_judicial_request(
    request_id: uuid.UUID,
    body: JudicialRejectIn,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.JUDICIAL_DECIDE))],
) -> JudicialRequestOut:
    service = JudicialService(runtime, session, actor)
    out = await service.decide(request_id, approve=False, reason=body.reason)
    await session.commit()
    return out


@router.get(
    "/{request_id}/disclosure",
    response_model=Disclosure,
    summary="Disclose the named customers' named fields while approved and unexpired",
    responses=problems(401, 403, 404, 422, 503),
)
async def read_disclosure(
    request_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.JUDICIAL_DISCLOSE))],
    customer_id: Annotated[uuid.UUID | None, Query(description="Only this customer")] = None,
    fields: Annotated[str | None, Query(description="Comma-separated subset")] = None,
) -> Disclosure:
    service = JudicialService(runtime, session, actor)
    out = await service.disclose(request_id, customer_id, parse_fields(fields))
    await session.commit()
    return out
