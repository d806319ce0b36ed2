"""The legal officer's desk (issue 19.2): judicial requests recorded, decided and disclosed
as the API does it (``pdvault.judicial``), page by page.

- ``GET /console/judicial-requests``: the list, filtered by status, 50 a page
  (``judicial.list``: legal, dpo, auditor).
- ``GET|POST /console/judicial-requests/new``: record a request (``judicial.file``: legal,
  dpo); every field the API takes, each checked with its message beside it.
- ``GET /console/judicial-requests/{id}``: the request, its state and history
  (``judicial.read``, logged as the API logs it).
- ``POST .../{id}/approve`` and ``.../{id}/reject``: the decision (``judicial.decide``: the
  dpo only, as the API; the service refuses the one who filed it, 409 ``four_eyes``).
- ``POST .../{id}/disclosure``: the disclosed fields, ``JudicialService.disclose`` as
  ``GET /v1/judicial-requests/{id}/disclosure`` calls it, shown on the POST's own answer
  (nothing personal in a URL, nothing personal kept for a replay).

Every route passes ``pass_gate`` with the API route's operation first.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from pdvault.console.actions import act_once, done_message, rolled_back, see_other
from pdvault.console.i18n import N_
from pdvault.console.legaldesk import (
    AUTHORITY_LABELS,
    AUTHORITY_TYPES,
    FIELDS,
    JUDICIAL_STATUS_LABELS,
    REQUIRED,
    STATUSES,
    TEXT_LIMITS,
    Message,
    read_filing,
    service_errors,
    through,
)
from pdvault.console.sessions import SignedIn
from pdvault.console.web import PREFIX, ConsolePage, PostedForm, render
from pdvault.deps import RuntimeDep, SessionDep, pass_gate
from pdvault.errors import Problem
from pdvault.judicial.schemas import Disclosure, JudicialRequestOut
from pdvault.judicial.service import JudicialService
from pdvault.pagination import Cursor
from pdvault.policy import Operation, may_call

router = APIRouter(include_in_schema=False)

BASE = f"{PREFIX}/judicial-requests"
PAGE_SIZE = 50
REASON_MAX = 2000

DONE_MESSAGES = {
    "filed": N_(
        "The request is recorded. It waits for a data-protection officer who did not record "
        "it to approve it."
    ),
    "approved": N_("The request is approved. Its disclosure is open until it expires."),
    "rejected": N_("The request is rejected."),
}
# The policy's refusals of a disclosure, as a person reads them.
DISCLOSE_REASONS = {
    "request_not_approved": N_("The request is not approved: nothing can be disclosed under it."),
    "request_expired": N_("The request has expired: nothing can be disclosed under it any more."),
    "out_of_scope": N_("The request does not name that customer or that field."),
}
FORM_INVALID = N_("Something in the form is not valid.")
REASON_REQUIRED = N_("Write the reason for the rejection.")
REASON_TOO_LONG = N_("Too long: at most %(count)s characters.")
NOT_LISTED = N_("Not one of the listed values.")


def _request_page(
    request: Request,
    signed: SignedIn,
    out: JudicialRequestOut,
    *,
    status: int = 200,
    problem: str | None = None,
    errors: dict[str, Message] | None = None,
    values: dict[str, str] | None = None,
    disclosure: Disclosure | None = None,
    chosen: dict[str, Any] | None = None,
) -> Response:
    role = signed.actor.role
    mine = out.filed_by == signed.actor.principal_id
    waiting = out.status == "submitted" and not out.expired
    return render(
        request,
        signed,
        "legaldesk_request.html",
        {
            "req": out,
            "mine": mine,
            "waiting": waiting,
            "may_decide": waiting and not mine and may_call(role, Operation.JUDICIAL_DECIDE),
            "may_disclose": (
                out.status == "approved"
                and not out.expired
                and may_call(role, Operation.JUDICIAL_DISCLOSE)
            ),
            "through": through,
            "authority_labels": AUTHORITY_LABELS,
            "judicial_status_labels": JUDICIAL_STATUS_LABELS,
            "problem": problem,
            "errors": errors or {},
            "values": values or {},
            "disclosure": disclosure,
            "chosen": chosen or {},
            "done": done_message(request, DONE_MESSAGES),
        },
        status=status,
    )


@router.get(BASE)
async def judicial_requests(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    status: Annotated[str | None, Query(max_length=16)] = None,
    cursor: Cursor = None,
) -> Response:
    """The requests, as ``GET /v1/judicial-requests`` lists them (legal, dpo, auditor)."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.JUDICIAL_LIST)
    chosen = status if status in STATUSES else None
    page = await JudicialService(runtime, session, actor).list(PAGE_SIZE, cursor, chosen)
    await session.commit()
    query = {"status": chosen} if chosen else {}
    next_link = (
        f"{BASE}?{urlencode({**query, 'cursor': page.next_cursor})}" if page.next_cursor else None
    )
    return render(
        request,
        signed,
        "legaldesk_list.html",
        {
            "page": page,
            "status": chosen or "",
            "statuses": STATUSES,
            "next_link": next_link,
            "may_file": may_call(actor.role, Operation.JUDICIAL_FILE),
            "authority_labels": AUTHORITY_LABELS,
            "judicial_status_labels": JUDICIAL_STATUS_LABELS,
            "through": through,
        },
    )


def _filing_page(
    request: Request,
    signed: SignedIn,
    values: dict[str, str],
    fields: list[str],
    errors: dict[str, Message] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        signed,
        "legaldesk_new.html",
        {
            "values": values,
            "chosen_fields": fields,
            "errors": errors or {},
            "problem": problem,
            "authority_types": AUTHORITY_TYPES,
            "authority_labels": AUTHORITY_LABELS,
            "all_fields": FIELDS,
            "limits": TEXT_LIMITS,
        },
        status=status,
    )


@router.get(f"{BASE}/new")
async def new_judicial_request(
    request: Request, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage
) -> Response:
    await pass_gate(request, runtime, session, signed.actor, Operation.JUDICIAL_FILE)
    return _filing_page(request, signed, {}, [])


@router.post(f"{BASE}/new")
async def file_judicial_request(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """A request recorded as ``POST /v1/judicial-requests`` records it, once per drawn form."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.JUDICIAL_FILE)
    filing = read_filing(form)
    body = filing.body
    if body is None:
        return _filing_page(
            request, signed, filing.values, filing.fields, filing.errors, FORM_INVALID, 422
        )

    async def work() -> dict[str, Any]:
        out = await JudicialService(runtime, session, actor).file(body)
        return {"id": str(out.id)}

    try:
        result, _ = await act_once(runtime, session, actor, form, "judicial.file", work)
    except Problem as problem:
        shown = await rolled_back(session, problem)
        errors = service_errors(problem.extra.get("errors"), filing.id_lines)
        status = 422 if problem.status in (400, 422) else problem.status
        return _filing_page(
            request, signed, filing.values, filing.fields, errors, shown.message, status
        )
    return see_other(f"{BASE}/{result['id']}", "filed")


@router.get(f"{BASE}/{{request_id}}")
async def judicial_request(
    request: Request,
    request_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
) -> Response:
    """One request with its state and history, as ``GET /v1/judicial-requests/{id}``."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.JUDICIAL_READ)
    out = await JudicialService(runtime, session, actor).get(request_id)
    await session.commit()
    return _request_page(request, signed, out)


async def _decide(
    request: Request,
    request_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: SignedIn,
    form: dict[str, str],
    approve: bool,
) -> Response:
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.JUDICIAL_DECIDE)
    service = JudicialService(runtime, session, actor)
    reason = form.get("reason", "").replace("\r\n", "\n").strip()
    if not approve and (not reason or len(reason) > REASON_MAX):
        out = await service.get(request_id)
        await session.commit()
        message = (
            Message(REASON_REQUIRED)
            if not reason
            else Message(REASON_TOO_LONG, {"count": REASON_MAX})
        )
        return _request_page(
            request, signed, out, status=422, errors={"reason": message}, values={"reason": reason}
        )

    async def work() -> dict[str, Any]:
        out = await service.decide(request_id, approve=approve, reason=reason or None)
        return {"id": str(out.id), "status": out.status}

    operation = "judicial.approve" if approve else "judicial.reject"
    try:
        await act_once(runtime, session, actor, form, operation, work)
    except Problem as problem:
        if problem.status == 404:
            raise
        shown = await rolled_back(session, problem)
        out = await service.get(request_id)
        await session.commit()
        return _request_page(
            request,
            signed,
            out,
            status=problem.status,
            problem=shown.message,
            values={"reason": reason},
        )
    return see_other(f"{BASE}/{request_id}", "approved" if approve else "rejected")


@router.post(f"{BASE}/{{request_id}}/approve")
async def approve_judicial_request(
    request: Request,
    request_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """``POST /v1/judicial-requests/{id}/approve``: a dpo who did not file it."""
    return await _decide(request, request_id, runtime, session, signed, form, approve=True)


@router.post(f"{BASE}/{{request_id}}/reject")
async def reject_judicial_request(
    request: Request,
    request_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """``POST /v1/judicial-requests/{id}/reject`` with its reason."""
    return await _decide(request, request_id, runtime, session, signed, form, approve=False)


@router.post(f"{BASE}/{{request_id}}/disclosure")
async def disclose(
    request: Request,
    request_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """The disclosure, as ``GET /v1/judicial-requests/{id}/disclosure`` answers it: the same
    service call, the same events (one per customer disclosed), on this POST's answer.

    Not through ``act_once``: it changes nothing but the log, and a replay would have to keep
    the disclosed values in the idempotency store. A second submit reads (and logs) again,
    as a second GET of the API does."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.JUDICIAL_DISCLOSE)
    service = JudicialService(runtime, session, actor)
    raw_customer = form.get("customer_id", "").strip()
    fields = [name for name in FIELDS if form.get(f"field_{name}")]
    errors: dict[str, Message] = {}
    only: uuid.UUID | None = None
    if raw_customer:
        try:
            only = uuid.UUID(raw_customer)
        except ValueError:
            errors["customer_id"] = Message(NOT_LISTED)
    if not fields:
        errors["fields"] = Message(REQUIRED)
    chosen = {"customer_id": raw_customer, "fields": fields}
    if errors:
        out = await service.get(request_id)
        await session.commit()
        return _request_page(request, signed, out, status=422, errors=errors, chosen=chosen)
    try:
        disclosure = await service.disclose(request_id, only, fields)
        await session.commit()
    except Problem as problem:
        if problem.status == 404:
            raise
        shown = await rolled_back(session, problem)
        out = await service.get(request_id)
        await session.commit()
        message = DISCLOSE_REASONS.get(problem.reason or "") or shown.message
        return _request_page(
            request, signed, out, status=problem.status, problem=message, chosen=chosen
        )
    return render(
        request,
        signed,
        "legaldesk_disclosure.html",
        {
            "req": disclosure.request,
            "disclosure": disclosure,
            "authority_labels": AUTHORITY_LABELS,
            "through": through,
        },
    )
