"""HTTP endpoints for complaints, the breach register and the compliance report
(docs/api.md "Complaints, breaches, notices" and "Reports")."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.db import AwareUTC, utcnow
from pdvault.deps import RuntimeDep, SessionDep, require
from pdvault.errors import Unprocessable
from pdvault.governance.breach_schemas import (
    EXAMPLE_AUTHORITY,
    EXAMPLE_BREACH,
    AuthorityNotificationIn,
    BreachDetail,
    BreachIn,
    BreachPage,
    SubjectNotificationsOut,
)
from pdvault.governance.breaches import BreachService, run_fanout_batches
from pdvault.governance.complaint_schemas import (
    EXAMPLE_COMPLAINT,
    EXAMPLE_TRANSITION,
    Category,
    ComplaintIn,
    ComplaintOut,
    ComplaintPage,
    Status,
    TransitionIn,
)
from pdvault.governance.complaints import ComplaintService
from pdvault.governance.paperwork import (
    AuthorityNotice,
    ImpactAssessment,
    Language,
    draft_authority_notice,
    draft_impact_assessment,
    started_at,
)
from pdvault.governance.paperwork_files import Format, IssuedFile, issue
from pdvault.governance.report_schemas import CSV_EXAMPLE, ComplianceReport
from pdvault.governance.reports import compliance_report, report_csv
from pdvault.openapi_docs import problems
from pdvault.pagination import Cursor, Limit
from pdvault.policy import Operation

complaints_router = APIRouter(prefix="/v1/complaints", tags=["complaints"])
breaches_router = APIRouter(prefix="/v1/breaches", tags=["breaches"])
reports_router = APIRouter(prefix="/v1/reports", tags=["reports"])


def _example(body: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"content": {"application/json": {"example": body}}}}


# -- complaints ----------------------------------------------------------------------------


@complaints_router.post(
    "",
    status_code=201,
    response_model=ComplaintOut,
    summary="File a complaint; due in 30 days by default (storefront, employee, dpo)",
    responses=problems(401, 403, 404, 410, 422, 503),
    openapi_extra=_example(EXAMPLE_COMPLAINT),
)
async def file_complaint(
    body: ComplaintIn,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.COMPLAINT_FILE))],
) -> ComplaintOut:
    out = await ComplaintService(runtime, session, actor).file(body)
    await session.commit()
    return out


@complaints_router.get(
    "",
    response_model=ComplaintPage,
    summary="List complaints' metadata; `overdue=true` for unanswered past due (dpo, auditor)",
    responses=problems(401, 403, 422, 503),
)
async def list_complaints(
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.COMPLAINT_LIST))],
    limit: Limit = 50,
    cursor: Cursor = None,
    status: Annotated[Status | None, Query()] = None,
    overdue: Annotated[bool | None, Query(description="Unanswered and past due")] = None,
    customer_id: Annotated[uuid.UUID | None, Query()] = None,
    category: Annotated[Category | None, Query()] = None,
) -> ComplaintPage:
    page = await ComplaintService(runtime, session, actor).list(
        limit,
        cursor,
        status=status,
        overdue=overdue,
        customer_id=customer_id,
        category=category,
    )
    await session.commit()
    return page


@complaints_router.get(
    "/{complaint_id}",
    response_model=ComplaintOut,
    summary="One complaint and its history; free text for the dpo only (dpo, auditor)",
    responses=problems(401, 403, 404, 422, 503),
)
async def get_complaint(
    complaint_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.COMPLAINT_READ))],
) -> ComplaintOut:
    out = await ComplaintService(runtime, session, actor).get(complaint_id)
    await session.commit()
    return out


@complaints_router.post(
    "/{complaint_id}/transitions",
    response_model=ComplaintOut,
    summary="Move a complaint: received → investigating → upheld | rejected → closed (dpo)",
    responses=problems(401, 403, 404, 409, 422, 503),
    openapi_extra=_example(EXAMPLE_TRANSITION),
)
async def transition_complaint(
    complaint_id: uuid.UUID,
    body: TransitionIn,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.COMPLAINT_TRANSITION))],
) -> ComplaintOut:
    out = await ComplaintService(runtime, session, actor).transition(complaint_id, body)
    await session.commit()
    return out


# -- breaches ------------------------------------------------------------------------------


@breaches_router.post(
    "",
    status_code=201,
    response_model=BreachDetail,
    summary="Record a breach; the authority is due 72 h after detection by default (dpo)",
    responses=problems(401, 403, 422, 503),
    openapi_extra=_example(EXAMPLE_BREACH),
)
async def record_breach(
    body: BreachIn,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.BREACH_RECORD))],
) -> BreachDetail:
    out = await BreachService(runtime, session, actor).record(body)
    await session.commit()
    return out


@breaches_router.get(
    "",
    response_model=BreachPage,
    summary="The breach register, with `overdue` (dpo, auditor)",
    responses=problems(401, 403, 422, 503),
)
async def list_breaches(
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.BREACH_LIST))],
    limit: Limit = 50,
    cursor: Cursor = None,
    overdue: Annotated[bool | None, Query(description="Authority not notified, past due")] = None,
) -> BreachPage:
    page = await BreachService(runtime, session, actor).list(limit, cursor, overdue)
    await session.commit()
    return page


@breaches_router.get(
    "/{breach_id}",
    response_model=BreachDetail,
    summary="One breach, with the customers it names (dpo, auditor)",
    responses=problems(401, 403, 404, 422, 503),
)
async def get_breach(
    breach_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.BREACH_READ))],
) -> BreachDetail:
    out = await BreachService(runtime, session, actor).get(breach_id)
    await session.commit()
    return out


@breaches_router.post(
    "/{breach_id}/authority-notification",
    response_model=BreachDetail,
    summary="Record that the authority was notified; once (dpo)",
    responses=problems(401, 403, 404, 409, 422, 503),
    openapi_extra=_example(EXAMPLE_AUTHORITY),
)
async def notify_authority(
    breach_id: uuid.UUID,
    body: AuthorityNotificationIn,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.BREACH_NOTIFY_AUTHORITY))],
) -> BreachDetail:
    out = await BreachService(runtime, session, actor).notify_authority(breach_id, body)
    await session.commit()
    return out


@breaches_router.post(
    "/{breach_id}/subject-notifications",
    response_model=SubjectNotificationsOut,
    summary="Queue one outbox notice per affected customer; re-running adds nothing (dpo)",
    responses=problems(401, 403, 404, 422, 503),
)
async def notify_subjects(
    breach_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.BREACH_NOTIFY_SUBJECTS))],
) -> SubjectNotificationsOut:
    service = BreachService(runtime, session, actor)
    breach = await service.start_fanout(breach_id)
    await session.commit()
    total, notices = await run_fanout_batches(
        service, session, breach, runtime.settings.breach_fanout_batch
    )
    return SubjectNotificationsOut(
        breach_id=breach.id,
        queued=total.queued,
        already_queued=total.already_queued,
        skipped_erased=total.skipped_erased,
        notices=notices,
    )


# -- the regulator's paperwork (issue 21) ---------------------------------------------------

Lang = Annotated[Language, Query(description="The document's language: vi (default) or en")]
FormatQuery = Annotated[
    Literal["json", "pdf"] | None,
    Query(alias="format", description="json or pdf; overrides Accept (JSON by default)"),
]


def prefers_over_json(accept: str | None, media_type: str) -> bool:
    """Whether ``Accept`` names ``media_type``, and before any ``application/json``."""
    types = [part.split(";")[0].strip().lower() for part in (accept or "").split(",")]
    if media_type not in types:
        return False
    return "application/json" not in types or types.index(media_type) < types.index(
        "application/json"
    )


def wants_pdf(accept: str | None, fmt: Format | None) -> Format:
    """``?format=`` decides; without it ``Accept: application/pdf`` (before any JSON) does."""
    if fmt is not None:
        return fmt
    return "pdf" if prefers_over_json(accept, "application/pdf") else "json"


def _inline(issued: IssuedFile) -> Response:
    return Response(
        issued.body,
        media_type=issued.media_type,
        headers={"Content-Disposition": f'inline; filename="{issued.filename}"'},
    )


def _pdf_response(description: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": description,
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    }


@breaches_router.get(
    "/{breach_id}/authority-notice",
    response_model=AuthorityNotice,
    summary="Draft the breach notice to the authority (Decree 13 Form No. 03); JSON or PDF (dpo)",
    responses={
        **_pdf_response("The draft (an A4 PDF with `Accept: application/pdf` or `format=pdf`)"),
        **problems(401, 403, 404, 422, 503),
    },
)
async def draft_breach_notice(
    breach_id: uuid.UUID,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.BREACH_AUTHORITY_NOTICE))],
    lang: Lang = "vi",
    fmt: FormatQuery = None,
) -> Any:
    breach = await BreachService(runtime, session, actor).breach(
        Operation.BREACH_AUTHORITY_NOTICE.value, breach_id
    )
    draft = await draft_authority_notice(session, runtime.settings, breach, lang)
    chosen = wants_pdf(request.headers.get("accept"), fmt)
    return _inline(await issue(runtime, session, actor, draft, chosen))


@reports_router.get(
    "/impact-assessment",
    response_model=ImpactAssessment,
    summary="Draft the processing impact assessment dossier (Decree 13 Art. 24); JSON or PDF (dpo)",
    responses={
        **_pdf_response("The dossier (an A4 PDF with `Accept: application/pdf` or `format=pdf`)"),
        **problems(401, 403, 422, 503),
    },
)
async def draft_impact_assessment_dossier(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.REPORT_IMPACT_ASSESSMENT))],
    lang: Lang = "vi",
    fmt: FormatQuery = None,
    since: Annotated[
        AwareUTC | None, Query(description="Figures from (inclusive); default: processing start")
    ] = None,
    until: Annotated[
        AwareUTC | None, Query(description="Figures until (exclusive); default: now")
    ] = None,
) -> Any:
    now = utcnow()
    since = started_at(runtime.settings.paperwork.processing_started) if since is None else since
    until = now if until is None else until
    if since >= until:
        raise Unprocessable(
            "until must be after since (by default: the start of processing, and now).",
            errors=[{"loc": ["query", "until"], "msg": "must be after since"}],
        )
    draft = await draft_impact_assessment(session, runtime, lang, since, until, now)
    chosen = wants_pdf(request.headers.get("accept"), fmt)
    return _inline(await issue(runtime, session, actor, draft, chosen))


# -- the compliance report -----------------------------------------------------------------


@reports_router.get(
    "/compliance",
    response_model=ComplianceReport,
    summary="Compliance figures over [since, until); JSON, or CSV with Accept: text/csv",
    responses={
        200: {
            "description": "The report (`section,key,value` rows when CSV is asked for)",
            "content": {"text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE}},
        },
        **problems(401, 403, 422, 503),
    },
)
async def read_compliance_report(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.REPORT_COMPLIANCE))],
    since: Annotated[AwareUTC, Query(description="RFC 3339 with offset, inclusive")],
    until: Annotated[AwareUTC, Query(description="RFC 3339 with offset, exclusive")],
) -> Any:
    if since >= until:
        raise Unprocessable(
            "until must be after since.",
            errors=[{"loc": ["query", "until"], "msg": "must be after since"}],
        )
    report = await compliance_report(session, since, until)
    await runtime.audit.append(
        session, actor, EventDraft(action=Operation.REPORT_COMPLIANCE.value, outcome=ALLOWED)
    )
    await session.commit()
    if prefers_over_json(request.headers.get("accept"), "text/csv"):
        return Response(report_csv(report), media_type="text/csv; charset=utf-8")
    return report
