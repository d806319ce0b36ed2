"""The DPO's paperwork room (issue 21): the breach notice (Form No. 03) of each breach of the
register and the impact-assessment dossier, previewed as a page and downloaded as PDF or JSON,
with the record of every version downloaded (who, when, language, format, SHA-256).

Gated by the operations the API's routes use (``breach.authority_notice``,
``report.impact_assessment``: the dpo only) through ``deps.pass_gate``; drafted by the same
functions (``governance.paperwork``) and handed out by the same ``paperwork_files.issue``, so
each download is an access event and a version row, as through the API. A preview is an
access event too (the document was drawn) but not a version: nothing left the vault. The
documents are drafted in the console's language. No form changes anything here: every route
is a GET, and nothing personal is in a URL (breach ids only).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from pdvault.auth.principal import Actor
from pdvault.console.auditing import principal_names
from pdvault.console.i18n import N_
from pdvault.console.web import PREFIX, ConsolePage, render
from pdvault.db import utcnow
from pdvault.deps import RuntimeDep, SessionDep, pass_gate
from pdvault.governance.breaches import BreachService
from pdvault.governance.models import Breach
from pdvault.governance.paperwork import (
    AuthorityNotice,
    ImpactAssessment,
    Language,
    draft_authority_notice,
    draft_impact_assessment,
    log_drawn,
    started_at,
    versions,
)
from pdvault.governance.paperwork_files import Format, IssuedFile, issue
from pdvault.policy import Operation

router = APIRouter(include_in_schema=False)

PAGE = f"{PREFIX}/paperwork"
DOSSIER = f"{PAGE}/impact-assessment"
BREACHES_SHOWN = 50
KIND_LABELS = {
    "breach_notice": N_("Breach notice (Form No. 03)"),
    "impact_assessment": N_("Impact assessment dossier"),
}


def _language(signed: ConsolePage) -> Language:
    return "en" if signed.language == "en" else "vi"


async def _gate(
    request: Request, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage, op: Operation
) -> Actor:
    return await pass_gate(request, runtime, session, signed.actor, op)


@router.get(PAGE)
async def paperwork_page(
    request: Request, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage
) -> Response:
    """The room: the dossier, the register's latest breaches, the versions downloaded."""
    await _gate(request, runtime, session, signed, Operation.REPORT_IMPACT_ASSESSMENT)
    await _gate(request, runtime, session, signed, Operation.BREACH_AUTHORITY_NOTICE)
    breaches = (
        await session.scalars(
            select(Breach).order_by(Breach.detected_at.desc(), Breach.id).limit(BREACHES_SHOWN)
        )
    ).all()
    kept = await versions(session)
    names = await principal_names(session, (v.principal_id for v in kept))
    settings = runtime.settings.paperwork
    context: dict[str, Any] = {
        "breaches": breaches,
        "versions": kept,
        "names": names,
        "kind_labels": KIND_LABELS,
        "processing_started": settings.processing_started,
        "submission_days": settings.assessment_submission_days,
    }
    await session.commit()
    return render(request, signed, "paperwork_room.html", context)


async def _preview(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    actor: Actor,
    draft: AuthorityNotice | ImpactAssessment,
    downloads: str,
) -> Response:
    breach_id = draft.breach.id if isinstance(draft, AuthorityNotice) else None
    await log_drawn(runtime, session, actor, draft.kind, breach_id)
    await session.commit()
    context = {"doc": draft.document, "draft": draft, "downloads": downloads}
    return render(request, signed, "paperwork_document.html", context)


def _file(issued: IssuedFile) -> Response:
    return Response(
        issued.body,
        media_type=issued.media_type,
        headers={"Content-Disposition": f'attachment; filename="{issued.filename}"'},
    )


async def _dossier(
    request: Request, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage
) -> tuple[Actor, ImpactAssessment]:
    actor = await _gate(request, runtime, session, signed, Operation.REPORT_IMPACT_ASSESSMENT)
    # The figures since processing started, up to now (an empty period while it has not).
    now = utcnow()
    since = min(started_at(runtime.settings.paperwork.processing_started), now)
    draft = await draft_impact_assessment(session, runtime, _language(signed), since, now, now)
    return actor, draft


@router.get(DOSSIER)
async def dossier_preview(
    request: Request, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage
) -> Response:
    actor, draft = await _dossier(request, runtime, session, signed)
    return await _preview(request, runtime, session, signed, actor, draft, DOSSIER)


async def _dossier_file(
    request: Request, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage, fmt: Format
) -> Response:
    actor, draft = await _dossier(request, runtime, session, signed)
    return _file(await issue(runtime, session, actor, draft, fmt))


@router.get(f"{DOSSIER}.pdf")
async def dossier_pdf(
    request: Request, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage
) -> Response:
    return await _dossier_file(request, runtime, session, signed, "pdf")


@router.get(f"{DOSSIER}.json")
async def dossier_json(
    request: Request, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage
) -> Response:
    return await _dossier_file(request, runtime, session, signed, "json")


async def _notice(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    breach_id: uuid.UUID,
) -> tuple[Actor, AuthorityNotice]:
    actor = await _gate(request, runtime, session, signed, Operation.BREACH_AUTHORITY_NOTICE)
    breach = await BreachService(runtime, session, actor).breach(
        Operation.BREACH_AUTHORITY_NOTICE.value, breach_id
    )
    draft = await draft_authority_notice(session, runtime.settings, breach, _language(signed))
    return actor, draft


@router.get(f"{PAGE}/breaches/{{breach_id}}")
async def notice_preview(
    breach_id: uuid.UUID,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
) -> Response:
    actor, draft = await _notice(request, runtime, session, signed, breach_id)
    downloads = f"{PAGE}/breaches/{breach_id}/notice"
    return await _preview(request, runtime, session, signed, actor, draft, downloads)


async def _notice_file(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    breach_id: uuid.UUID,
    fmt: Format,
) -> Response:
    actor, draft = await _notice(request, runtime, session, signed, breach_id)
    return _file(await issue(runtime, session, actor, draft, fmt))


@router.get(f"{PAGE}/breaches/{{breach_id}}/notice.pdf")
async def notice_pdf(
    breach_id: uuid.UUID,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
) -> Response:
    return await _notice_file(request, runtime, session, signed, breach_id, "pdf")


@router.get(f"{PAGE}/breaches/{{breach_id}}/notice.json")
async def notice_json(
    breach_id: uuid.UUID,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
) -> Response:
    return await _notice_file(request, runtime, session, signed, breach_id, "json")
