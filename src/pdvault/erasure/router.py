"""Deletion requests (docs/api.md "Data-subject requests")."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query

from pdvault.auth.principal import Actor
from pdvault.deps import RuntimeDep, SessionDep, require
from pdvault.erasure.schemas import (
    DeletionRejectIn,
    DeletionRequestIn,
    DeletionRequestOut,
    DeletionRequestPage,
)
from pdvault.erasure.service import DeletionService
from pdvault.erasure.shred import settle_storage
from pdvault.openapi_docs import problems
from pdvault.pagination import Cursor, Limit
from pdvault.policy import Operation, may_read_free_text

router = APIRouter(prefix="/v1/deletion-requests", tags=["deletion requests"])

Dpo = Annotated[Actor, Depends(require(Operation.DELETION_DECIDE))]


@router.post(
    "",
    status_code=201,
    response_model=DeletionRequestOut,
    summary="Ask for a customer's erasure; due within the configured deadline (storefront, dpo)",
    responses=problems(401, 403, 404, 409, 410, 422, 503),
)
async def file_deletion_request(
    body: DeletionRequestIn,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.DELETION_FILE))],
) -> DeletionRequestOut:
    out = await DeletionService(runtime, session, actor).file(body)
    await session.commit()
    return out


@router.get(
    "",
    response_model=DeletionRequestPage,
    summary="Deletion requests, oldest first; filter by status and overdue (dpo, auditor)",
    responses=problems(401, 403, 422, 503),
)
async def list_deletion_requests(
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.DELETION_LIST))],
    status: Annotated[Literal["pending", "executed", "rejected"] | None, Query()] = None,
    overdue: Annotated[bool | None, Query(description="Pending past its due time")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DeletionRequestPage:
    page = await DeletionService(runtime, session, actor).list(status, overdue, limit, cursor)
    await session.commit()
    return page


@router.get(
    "/{request_id}",
    response_model=DeletionRequestOut,
    summary="One deletion request; the customer's note only for the dpo (dpo, auditor)",
    responses=problems(401, 403, 404, 422, 503),
)
async def get_deletion_request(
    request_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.DELETION_READ))],
) -> DeletionRequestOut:
    service = DeletionService(runtime, session, actor)
    out = await service.get(request_id, with_note=may_read_free_text(actor.role))
    await session.commit()
    return out


@router.post(
    "/{request_id}/approve",
    response_model=DeletionRequestOut,
    summary="Erase the customer now (crypto-shredding); 409 legal_hold when held (dpo)",
    description=(
        "`shredding` is `complete` once no copy of the wrapped data key is left in the "
        "database files, `pending` while a reader's older snapshot still holds one (SQLite); "
        "`pdvault retention sweep` completes it."
    ),
    responses=problems(401, 403, 404, 409, 422, 503),
)
async def approve_deletion_request(
    request_id: uuid.UUID, runtime: RuntimeDep, session: SessionDep, actor: Dpo
) -> DeletionRequestOut:
    service = DeletionService(runtime, session, actor)
    out = await service.approve(request_id)
    await session.commit()
    # Done only once no copy of the wrapped key is left in the files; else pending, and
    # `pdvault retention sweep` retries (docs/erasure.md).
    out = await service.settle(out, await settle_storage(runtime.engine))
    await session.commit()
    return out


@router.post(
    "/{request_id}/reject",
    response_model=DeletionRequestOut,
    summary="Refuse a pending deletion request, with the reason (dpo)",
    responses=problems(401, 403, 404, 409, 422, 503),
)
async def reject_deletion_request(
    request_id: uuid.UUID,
    body: Annotated[DeletionRejectIn, Body()],
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Dpo,
) -> DeletionRequestOut:
    out = await DeletionService(runtime, session, actor).reject(request_id, body.reason)
    await session.commit()
    return out
