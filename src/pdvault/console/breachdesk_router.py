"""The DPO's desk, part 2 (issue 19.1): the breach register, the authority notification, the
subject notices with their progress, and the outbox of breach notices.

Every route passes the gate of the API operation it stands for (``deps.pass_gate``: a role
the policy refuses gets the logged 403 here too) and calls the API's own service
(``BreachService``), which logs the same events. The dpo records and notifies; the auditor
reads the register (``breach.list``, ``breach.read``) and sees no form.

- ``GET  /console/breaches``: the register, 50 a page, filter ``overdue``.
- ``GET  /console/breaches/new`` and ``POST /console/breaches``: record a breach.
- ``GET  /console/breaches/{id}``: its facts, the 72-hour deadline counting down (or how
  late), the authority notification, the subject notices' progress.
- ``POST /console/breaches/{id}/authority-notification``: the notify-authority step.
- ``POST /console/breaches/{id}/subject-notifications``: the fan-out, run after the answer;
  the breach's page refreshes itself (a ``Refresh`` header) while it runs.
- ``GET  /console/outbox``: the breach notices and their delivery state, by state and by
  breach, 50 a page; ids and times only, never a customer's id or value.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.background import BackgroundTask

from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.console.actions import act_once, done_message, rolled_back, see_other
from pdvault.console.breachdesk import (
    CATEGORIES,
    CATEGORY_LABELS,
    IDS_MAX_CHARS,
    AuthorityForm,
    BreachForm,
    Errors,
    FieldError,
    deadline,
    fanout_runs,
    read_authority_form,
    read_breach_form,
    run_fanout,
    service_errors,
    shop_input,
)
from pdvault.console.i18n import N_
from pdvault.console.sessions import SignedIn
from pdvault.console.web import PREFIX, ConsolePage, PostedForm, console_of, render
from pdvault.deps import RuntimeDep, SessionDep, pass_gate
from pdvault.errors import Problem
from pdvault.governance.breach_schemas import AuthorityNotificationIn, BreachDetail
from pdvault.governance.breaches import BreachService
from pdvault.notifications.service import breach_notice_counts, list_breach_notices
from pdvault.pagination import Cursor
from pdvault.policy import Operation, may_call

router = APIRouter(include_in_schema=False)

BREACHES = f"{PREFIX}/breaches"
OUTBOX = f"{PREFIX}/outbox"
PAGE_SIZE = 50
REFRESH_SECONDS = 2
NOTICE_STATES = ("pending", "delivered")
DONE = {
    "recorded": N_("The breach is recorded. The authority must be notified before the deadline."),
    "authority": N_("The authority notification is recorded."),
    "subjects": N_(
        "Sending the notices to the affected customers has started; the bar below shows how "
        "far it has got."
    ),
}
BAD_BREACH_ID = N_("Not a breach id.")


NOTICE_LABELS = {"pending": N_("waiting for delivery"), "delivered": N_("delivered")}


def _render(
    request: Request,
    signed: SignedIn,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """``render`` with the notices' state labels."""
    return render(
        request,
        signed,
        template,
        {**context, "notice_labels": NOTICE_LABELS},
        status=status,
        headers=headers,
    )


# -- the register --------------------------------------------------------------------------


@router.get(BREACHES)
async def breaches(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    overdue: Annotated[str | None, Query(max_length=8)] = None,
    cursor: Cursor = None,
) -> Response:
    """The register, as ``GET /v1/breaches`` lists it (dpo, auditor)."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.BREACH_LIST)
    chosen = {"yes": True, "no": False}.get(overdue or "")
    page = await BreachService(runtime, session, actor).list(PAGE_SIZE, cursor, chosen)
    await session.commit()
    query = {"overdue": overdue} if chosen is not None and overdue else {}
    next_link = (
        f"{BREACHES}?{urlencode({**query, 'cursor': page.next_cursor})}"
        if page.next_cursor
        else None
    )
    now = console_of(request).sessions.now()  # the console's clock, a test's FakeClock
    return _render(
        request,
        signed,
        "breachdesk_list.html",
        {
            "page": page,
            "overdue": overdue if chosen is not None else "",
            "next_link": next_link,
            "deadlines": {b.id: deadline(b, now) for b in page.items},
            "may_record": may_call(actor.role, Operation.BREACH_RECORD),
            "category_labels": CATEGORY_LABELS,
        },
    )


def _new_page(
    request: Request,
    signed: ConsolePage,
    values: dict[str, Any],
    errors: Errors | None = None,
    message: str | None = None,
    status: int = 200,
) -> Response:
    return _render(
        request,
        signed,
        "breachdesk_new.html",
        {
            "values": values,
            "errors": errors or {},
            "message": message,
            "categories": CATEGORIES,
            "category_labels": CATEGORY_LABELS,
            "ids_max_chars": IDS_MAX_CHARS,
        },
        status=status,
    )


@router.get(f"{BREACHES}/new")
async def new_breach(
    request: Request, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage
) -> Response:
    await pass_gate(request, runtime, session, signed.actor, Operation.BREACH_RECORD)
    return _new_page(request, signed, {"categories": [], "scope": ""})


@router.post(BREACHES)
async def record_breach(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """Record a breach, as ``POST /v1/breaches`` records it (dpo)."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.BREACH_RECORD)
    # Dropped by the form's reading when too long or holding a control character: None.
    raw_ids = form.get("customer_ids") if form.get("scope") == "named" else ""
    sent: BreachForm = read_breach_form(form, raw_ids)
    if sent.errors or sent.body is None:
        return _new_page(request, signed, sent.values, sent.errors, status=422)
    body = sent.body

    async def work() -> dict[str, Any]:
        out = await BreachService(runtime, session, actor).record(body)
        return {"id": str(out.id)}

    try:
        result, _ = await act_once(
            runtime,
            session,
            actor,
            form,
            Operation.BREACH_RECORD.value,
            work,
        )
    except Problem as problem:
        shown = await rolled_back(session, problem)
        errors = service_errors(problem.extra.get("errors") or [], sent.id_lines)
        return _new_page(
            request,
            signed,
            sent.values,
            errors,
            shown.message,
            status=422 if problem.status in (400, 409, 422) else problem.status,
        )
    return see_other(f"{BREACHES}/{result['id']}", "recorded")


# -- one breach ----------------------------------------------------------------------------


async def _breach_page(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    breach_id: uuid.UUID,
    *,
    authority: AuthorityForm | None = None,
    message: str | None = None,
    status: int = 200,
) -> Response:
    actor = signed.actor
    out: BreachDetail = await BreachService(runtime, session, actor).get(breach_id)
    notices, delivered = await breach_notice_counts(session, breach_id)
    await session.commit()
    run = fanout_runs(request.app.state).by_breach.get(breach_id)
    running = run is not None and run.running
    now = console_of(request).sessions.now()  # the console's clock, a test's FakeClock
    total = max(out.affected_count, notices)
    progress = {
        "notices": notices,
        "delivered": delivered,
        "waiting": notices - delivered,
        "total": total,
        "skipped": run.skipped_erased if run is not None else 0,
        "running": running,
        "failed": run is not None and run.failed,
        "started": notices > 0 or run is not None or out.subjects_notified_at is not None,
        "finished": out.subjects_notified_at is not None and not running,
    }
    form = authority or AuthorityForm({"notified_at": shop_input(now)}, {})
    headers = {"Refresh": str(REFRESH_SECONDS)} if running else None
    return _render(
        request,
        signed,
        "breachdesk_breach.html",
        {
            "breach": out,
            "deadline": deadline(out, now),
            "progress": progress,
            "authority": form,
            "message": message,
            "may_notify": may_call(actor.role, Operation.BREACH_NOTIFY_AUTHORITY),
            "may_fanout": may_call(actor.role, Operation.BREACH_NOTIFY_SUBJECTS),
            "refresh_seconds": REFRESH_SECONDS,
            "category_labels": CATEGORY_LABELS,
            "done": done_message(request, DONE),
        },
        status=status,
        headers=headers,
    )


@router.get(f"{BREACHES}/{{breach_id}}")
async def breach(
    request: Request,
    breach_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
) -> Response:
    """One breach, as ``GET /v1/breaches/{id}`` reads it (dpo, auditor)."""
    await pass_gate(request, runtime, session, signed.actor, Operation.BREACH_READ)
    return await _breach_page(request, runtime, session, signed, breach_id)


@router.post(f"{BREACHES}/{{breach_id}}/authority-notification")
async def notify_authority(
    request: Request,
    breach_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """Record the authority notification, as the API's notify-authority step (dpo)."""
    actor = await pass_gate(
        request, runtime, session, signed.actor, Operation.BREACH_NOTIFY_AUTHORITY
    )
    sent = read_authority_form(form)
    if sent.errors or sent.notified_at is None:
        return await _breach_page(
            request, runtime, session, signed, breach_id, authority=sent, status=422
        )
    body = AuthorityNotificationIn(
        notified_at=sent.notified_at,
        authority=sent.values["authority"],
        reference=sent.values["reference"],
    )

    async def work() -> dict[str, Any]:
        out = await BreachService(runtime, session, actor).notify_authority(breach_id, body)
        return {"id": str(out.id)}

    try:
        await act_once(runtime, session, actor, form, Operation.BREACH_NOTIFY_AUTHORITY.value, work)
    except Problem as problem:
        if problem.status == 404:
            await session.rollback()
            raise
        shown = await rolled_back(session, problem)
        sent.errors.update(service_errors(problem.extra.get("errors") or [], []))
        return await _breach_page(
            request,
            runtime,
            session,
            signed,
            breach_id,
            authority=sent,
            message=shown.message,
            status=422 if problem.status == 422 else problem.status,
        )
    return see_other(f"{BREACHES}/{breach_id}", "authority")


@router.post(f"{BREACHES}/{{breach_id}}/subject-notifications")
async def notify_subjects(
    request: Request,
    breach_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """Queue one notice per affected customer, as the API's notify-subjects step (dpo): its
    first step here (the breach found, the event logged), its batches after the answer."""
    actor = await pass_gate(
        request, runtime, session, signed.actor, Operation.BREACH_NOTIFY_SUBJECTS
    )
    runs = fanout_runs(request.app.state)

    async def work() -> dict[str, Any]:
        b = await BreachService(runtime, session, actor).start_fanout(breach_id)
        return {"id": str(b.id)}

    if runs.running(breach_id):
        # A fan-out of this breach is running: the page shows it; nothing more to start.
        return see_other(f"{BREACHES}/{breach_id}", "subjects")
    _, repeat = await act_once(
        runtime, session, actor, form, Operation.BREACH_NOTIFY_SUBJECTS.value, work
    )
    answer = see_other(f"{BREACHES}/{breach_id}", "subjects")
    run = None if repeat else runs.begin(breach_id)
    if run is not None:
        answer.background = BackgroundTask(run_fanout, runtime, actor, breach_id, run)
    return answer


# -- the outbox ----------------------------------------------------------------------------


@router.get(OUTBOX)
async def outbox(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    state: Annotated[str | None, Query(max_length=16)] = None,
    breach: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Cursor = None,
) -> Response:
    """The breach notices in the outbox and their delivery state (dpo, auditor): part of the
    breach register (``breach.list``), ids and times only. The storefront's own list
    (``GET /v1/notifications``) stays the storefront's."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.BREACH_LIST)
    chosen = state if state in NOTICE_STATES else None
    errors: Errors = {}
    breach_id: uuid.UUID | None = None
    if breach:
        try:
            breach_id = uuid.UUID(breach.strip())
        except ValueError:
            errors["breach"] = FieldError(BAD_BREACH_ID)
    query = {k: v for k, v in (("state", chosen), ("breach", str(breach_id or ""))) if v}
    if errors:
        return _render(
            request,
            signed,
            "breachdesk_outbox.html",
            {
                "notices": None,
                "errors": errors,
                "state": chosen or "",
                "breach": breach,
                "states": NOTICE_STATES,
                "next_link": None,
            },
            status=422,
        )
    notices, next_cursor = await list_breach_notices(
        session, breach_id, chosen or "all", PAGE_SIZE, cursor
    )
    await runtime.audit.append(
        session,
        actor,
        EventDraft(
            action=Operation.BREACH_LIST.value,
            outcome=ALLOWED,
            basis=f"breach:{breach_id}" if breach_id is not None else None,
        ),
    )
    await session.commit()
    next_link = f"{OUTBOX}?{urlencode({**query, 'cursor': next_cursor})}" if next_cursor else None
    return _render(
        request,
        signed,
        "breachdesk_outbox.html",
        {
            "notices": notices,
            "errors": {},
            "state": chosen or "",
            "breach": str(breach_id) if breach_id else "",
            "states": NOTICE_STATES,
            "next_link": next_link,
        },
    )
