"""The auditor's API (docs/api.md "Audit") and the data subject's access report."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from pdvault.audit import runs, service
from pdvault.audit.schemas import (
    EXPORT_MEDIA_TYPE,
    EXPORT_RESPONSE,
    AccessReport,
    CheckpointPage,
    EventPage,
    PublicKeyOut,
    VerifyOut,
    VerifyRunOut,
    VerifyRunPage,
)
from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.customers.access import AuditedAccess
from pdvault.db import AwareUTC
from pdvault.deps import RuntimeDep, SessionDep, read_route, require
from pdvault.openapi_docs import problems
from pdvault.pagination import Cursor, Limit, encode_cursor, int_after
from pdvault.policy import Operation

router = APIRouter(tags=["audit"])


# Roles, purposes and actions are names (``customer.read``, ``auth.token``): a filter holding
# anything else matches nothing, and a NUL in one was a 503 on PostgreSQL.
_NAME = r"^[A-Za-z0-9_.:-]+$"


async def event_filter(
    customer_id: Annotated[uuid.UUID | None, Query()] = None,
    principal_id: Annotated[uuid.UUID | None, Query()] = None,
    role: Annotated[str | None, Query(max_length=32, pattern=_NAME)] = None,
    purpose: Annotated[str | None, Query(max_length=64, pattern=_NAME)] = None,
    action: Annotated[str | None, Query(max_length=64, pattern=_NAME)] = None,
    outcome: Annotated[Literal["allowed", "denied"] | None, Query()] = None,
    since: Annotated[AwareUTC | None, Query(description="RFC 3339, inclusive")] = None,
    until: Annotated[AwareUTC | None, Query(description="RFC 3339, exclusive")] = None,
    token_id: Annotated[
        uuid.UUID | None, Query(description="the token that made the access")
    ] = None,
    target_principal_id: Annotated[
        uuid.UUID | None, Query(description="the principal an administrative act was about")
    ] = None,
    target_token_id: Annotated[
        uuid.UUID | None, Query(description="the token an administrative act was about")
    ] = None,
) -> service.EventFilter:
    return service.EventFilter(
        customer_id,
        principal_id,
        role,
        purpose,
        action,
        outcome,
        since,
        until,
        token_id,
        target_principal_id,
        target_token_id,
    )


Filter = Annotated[service.EventFilter, Depends(event_filter)]


async def _log(
    runtime: RuntimeDep, session: SessionDep, actor: Actor, action: str, **kw: object
) -> None:
    await runtime.audit.append(
        session,
        actor,
        EventDraft(action=action, outcome=ALLOWED, **kw),  # type: ignore[arg-type]
    )


@router.get(
    "/v1/audit/events",
    response_model=EventPage,
    summary="Access events, filtered, oldest first (auditor, dpo)",
    responses=problems(401, 403, 422, 503),
)
@read_route
async def list_audit_events(
    flt: Filter,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.AUDIT_EVENTS))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> EventPage:
    items, next_cursor = await service.list_events(session, flt, limit, int_after(cursor))
    # A read route (deps.read_route): its event is group-committed before the page leaves.
    await runtime.audit.commit_read(
        session, actor, EventDraft(action=Operation.AUDIT_EVENTS.value, outcome=ALLOWED)
    )
    return EventPage(items=items, next_cursor=next_cursor)


@router.get(
    "/v1/audit/events/export",
    summary="All matching events as JSON Lines, streamed (auditor)",
    response_class=StreamingResponse,
    responses={200: EXPORT_RESPONSE, **problems(401, 403, 422, 503)},
)
async def export_audit_events(
    flt: Filter,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.AUDIT_EXPORT))],
) -> StreamingResponse:
    await _log(runtime, session, actor, Operation.AUDIT_EXPORT.value)
    await session.commit()
    return StreamingResponse(
        service.export_lines(runtime.sessions, flt),
        media_type=EXPORT_MEDIA_TYPE,
        headers={"Cache-Control": "no-store"},
    )


@router.get(
    "/v1/audit/verify",
    response_model=VerifyOut,
    summary="Recompute every chain, writer and checkpoint; name the first bad seq (auditor)",
    description="In full by default. With `full=false`, only what came after the last "
    "checkpoint a successful run verified (docs/audit.md says what each proves). Every run "
    "is recorded: `GET /v1/audit/verify/runs`.",
    responses=problems(401, 403, 422, 503),
)
async def verify_audit_log(
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.AUDIT_VERIFY))],
    full: Annotated[
        bool, Query(description="false: from the last verified checkpoint (incremental)")
    ] = True,
) -> VerifyOut:
    await _log(runtime, session, actor, Operation.AUDIT_VERIFY.value)
    await session.commit()
    run = await runs.run_verify(runtime.engine, runtime.audit.signer, full=full)
    result = run.result
    return VerifyOut(
        ok=result.ok,
        checked=result.checked,
        first_invalid_seq=result.first_invalid_seq,
        problem=result.problem,
        checkpoint=result.checkpoint,
        checkpoints_checked=result.checkpoints_checked,
        writers=result.writers,
        run_id=run.id,
        mode=run.mode,
        from_checkpoint_id=run.from_checkpoint_id,
        from_seq=result.from_seq,
        to_seq=result.last_seq,
    )


@router.get(
    "/v1/audit/verify/runs",
    response_model=VerifyRunPage,
    summary="Past verification runs and their results, newest first (auditor)",
    responses=problems(401, 403, 422, 503),
)
async def verify_runs(
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.AUDIT_VERIFY))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> VerifyRunPage:
    before = int_after(cursor) if cursor is not None else None
    rows, more = await runs.list_runs(session, limit, before)
    await _log(runtime, session, actor, "audit.verify_runs")
    await session.commit()
    items = [VerifyRunOut(**runs.run_fields(r)) for r in rows]
    next_cursor = encode_cursor(str(rows[-1].id)) if more else None
    return VerifyRunPage(items=items, next_cursor=next_cursor)


@router.get(
    "/v1/audit/checkpoints",
    response_model=CheckpointPage,
    summary="Signed checkpoints, oldest first (auditor)",
    responses=problems(401, 403, 422, 503),
)
async def list_checkpoints(
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.AUDIT_CHECKPOINTS))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> CheckpointPage:
    items, next_cursor = await service.list_checkpoints(session, limit, int_after(cursor))
    await _log(runtime, session, actor, Operation.AUDIT_CHECKPOINTS.value)
    await session.commit()
    return CheckpointPage(items=items, next_cursor=next_cursor)


@router.get(
    "/v1/audit/public-key",
    response_model=PublicKeyOut,
    summary="The Ed25519 key that verifies checkpoints and writer registrations (auditor)",
    responses=problems(401, 403, 503),
)
async def read_public_key(
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.AUDIT_PUBLIC_KEY))],
) -> PublicKeyOut:
    await _log(runtime, session, actor, Operation.AUDIT_PUBLIC_KEY.value)
    await session.commit()
    signer = runtime.audit.signer
    return PublicKeyOut(
        algorithm="Ed25519",
        key_id=signer.key_id,
        public_key=signer.public_b64(),
        pem=signer.public_pem(),
    )


@router.get(
    "/v1/customers/{customer_id}/access-report",
    response_model=AccessReport,
    summary="Every access to this customer: when, who (partners by name), why (storefront, dpo)",
    responses=problems(401, 403, 404, 410, 422, 503),
)
async def read_access_report(
    customer_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.CUSTOMER_ACCESS_REPORT))],
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
    cursor: Cursor = None,
) -> AccessReport:
    # Like every read of an erased customer: 410 (the auditor keeps the events in /v1/audit).
    await AuditedAccess(runtime, session, actor).live_customer(
        Operation.CUSTOMER_ACCESS_REPORT.value, customer_id
    )
    items, next_cursor = await service.access_report(session, customer_id, limit, int_after(cursor))
    await _log(
        runtime, session, actor, Operation.CUSTOMER_ACCESS_REPORT.value, customer_id=customer_id
    )
    await session.commit()
    return AccessReport(customer_id=customer_id, items=items, next_cursor=next_cursor)
