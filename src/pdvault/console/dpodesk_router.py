"""The DPO's desk (issue 19.1): what is due, deletion and access requests, complaint moves.

Every route is gated like its API route (``pass_gate`` with the API route's ``Operation``) and
calls the service that route calls (``DeletionService``, ``AccessRequestService``,
``ComplaintService``, the export), so the rules, deadlines, refusals and access events are the
API's. Every state-changing form is a ``PostedForm`` done through ``act_once`` (a double
submit acts once); a refusal is shown on the form (``rolled_back``), a bad form answers 422 with
a message beside the field and changes nothing, success answers 303 to the page that confirms
it (``see_other`` / ``done_message``). Approving a deletion request erases the customer at
once, as ``POST /v1/deletion-requests/{id}/approve`` does (there is no separate execute step):
the erasure is committed, then storage is settled and recorded, as the API does.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Protocol
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault import export
from pdvault.audit import service as audit_service
from pdvault.audit.schemas import EventOut
from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.console.actions import Refused, act_once, done_message, rolled_back, see_other
from pdvault.console.dpodesk import (
    DONE,
    KIND_ITEM,
    NOTE_MAX,
    REJECTION_GROUNDS,
    due_view,
    time_left,
)
from pdvault.console.i18n import N_
from pdvault.console.people_router import complaint_page
from pdvault.console.sessions import SignedIn
from pdvault.console.web import PREFIX, ConsolePage, PostedForm, render
from pdvault.db import utcnow
from pdvault.deps import RuntimeDep, SessionDep, pass_gate
from pdvault.erasure.ledger import ERASE_ACTION, SHRED_ACTION
from pdvault.erasure.schemas import DeletionRejectIn, DeletionRequestOut, DeletionRequestPage
from pdvault.erasure.service import DeletionService
from pdvault.erasure.shred import settle_storage
from pdvault.errors import Problem
from pdvault.governance.complaint_schemas import TransitionIn
from pdvault.governance.complaints import ComplaintService
from pdvault.governance.models import ComplaintStatus
from pdvault.judicial.service import is_on_legal_hold
from pdvault.pagination import Cursor
from pdvault.policy import Operation, default_purpose, may_call, may_read_free_text
from pdvault.runtime import Runtime
from pdvault.subjects.access import AccessRequestService
from pdvault.subjects.schemas import AccessRejectIn, AccessRequestOut, AccessRequestPage

router = APIRouter(include_in_schema=False)

DUE = f"{PREFIX}/due"
DELETIONS = f"{PREFIX}/deletion-requests"
ACCESSES = f"{PREFIX}/access-requests"
COMPLAINTS = f"{PREFIX}/complaints"
PAGE_SIZE = 50
DELETION_STATUSES = ("pending", "executed", "rejected")
ACCESS_STATUSES = ("pending", "fulfilled", "rejected")
REQUEST_STATUS_LABELS = {
    "pending": N_("awaiting decision"),
    "executed": N_("executed (erased)"),
    "fulfilled": N_("fulfilled"),
    "rejected": N_("rejected"),
}
CHANNEL_LABELS = {
    "storefront": N_("storefront"),
    "email": N_("email"),
    "hotline": N_("hotline"),
    "letter": N_("letter"),
    "in_person": N_("in person"),
    "other": N_("other"),
}
# What erasure destroys (erasure/shred.py ``shred_customer``), shown after an approval.
ERASED_CARRIERS = (
    N_("The customer's data key (wrapped key destroyed: crypto-shredding)"),
    N_("Full name, phone, email and address (their ciphertexts)"),
    N_("The search indexes of phone and email"),
    N_("Notes and rejection reasons of the customer's requests"),
    N_("Documents past their legal retention"),
    N_("The words of complaints about the customer (their metadata stays)"),
    N_("Partner assignments (ended)"),
    N_("Stored answers of repeated requests"),
)
REASON_REQUIRED = N_("Write the reason.")
REASON_TOO_LONG = N_("At most 500 characters.")
NOTE_REQUIRED = N_("Write a note on this step.")
TEXT_TOO_LONG = N_("At most 2,000 characters.")
CHOOSE_STATE = N_("Choose one of the states offered.")
GROUND_REQUIRED = N_("Choose the ground of the rejection.")
GROUND_ONLY_REJECTED = N_("A ground goes only with a move to rejected.")
EVIDENCE_BAD = N_("Write access-event numbers separated by commas, for example 42, 57.")
REASON_MAX = 500

StatusQuery = Annotated[str | None, Query(max_length=16)]


def _left(signed: ConsolePage) -> Any:
    now = utcnow()
    return lambda due: time_left(due, now, signed.language)


def _requests_page(
    request: Request,
    signed: ConsolePage,
    kind: str,
    path: str,
    statuses: tuple[str, ...],
    chosen: str | None,
    page: DeletionRequestPage | AccessRequestPage,
) -> Response:
    """A page of deletion or access requests (``kind``), filtered by ``chosen`` status."""
    query = {"status": chosen} if chosen else {}
    cursor = page.next_cursor
    return render(
        request,
        signed,
        "dpodesk_requests.html",
        {
            "kind": kind,
            "base": path,
            "items": page.items,
            "status": chosen or "",
            "statuses": statuses,
            "labels": REQUEST_STATUS_LABELS,
            "channels": CHANNEL_LABELS,
            "next_link": f"{path}?{urlencode({**query, 'cursor': cursor})}" if cursor else None,
            "left": _left(signed),
        },
    )


# -- what is due ---------------------------------------------------------------------------


@router.get(DUE)
async def due(
    request: Request, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage
) -> Response:
    """Open deletion and access requests, undecided complaints and breaches whose authority
    deadline runs: overdue first, then by deadline."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.DELETION_LIST)
    view = await due_view(runtime, session, actor)
    await session.commit()
    return render(
        request,
        signed,
        "dpodesk_due.html",
        {
            "view": view,
            "left": _left(signed),
            "status_labels_req": REQUEST_STATUS_LABELS,
            "kind_items": KIND_ITEM,
            "summary_link": False,
        },
    )


# -- deletion requests ---------------------------------------------------------------------


@router.get(DELETIONS)
async def deletion_requests(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    status: StatusQuery = None,
    cursor: Cursor = None,
) -> Response:
    """As ``GET /v1/deletion-requests`` (dpo, auditor)."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.DELETION_LIST)
    chosen = status if status in DELETION_STATUSES else None
    page = await DeletionService(runtime, session, actor).list(chosen, None, PAGE_SIZE, cursor)
    await session.commit()
    return _requests_page(request, signed, "deletion", DELETIONS, DELETION_STATUSES, chosen, page)


async def _ledger(
    runtime: RuntimeDep, session: SessionDep, actor: Actor, out: DeletionRequestOut
) -> list[EventOut] | None:
    """The erasure's entries in the access log (the ledger: ``deletion.execute`` and each
    ``deletion.shred``), read as the log's listing reads them, for a role that may list the
    log; the listing is an access event, as ``GET /v1/audit/events`` is."""
    if out.status != "executed" or not may_call(actor.role, Operation.AUDIT_EVENTS):
        return None
    basis = f"deletion_request:{out.id}"
    found: list[EventOut] = []
    for action in (ERASE_ACTION, SHRED_ACTION):
        flt = audit_service.EventFilter(customer_id=out.customer_id, action=action)
        items, _ = await audit_service.list_events(session, flt, PAGE_SIZE, 0)
        found.extend(e for e in items if e.basis == basis)
    await runtime.audit.append(
        session, actor, EventDraft(action=Operation.AUDIT_EVENTS.value, outcome=ALLOWED)
    )
    return sorted(found, key=lambda e: e.seq)


def _decision_context(
    request: Request,
    signed: SignedIn,
    shown: Refused | None,
    sent: str | None,
    values: Mapping[str, str] | None,
) -> dict[str, Any]:
    """What a request's page (deletion or access) shows around its decision forms: the
    labels, the time left, a refused form with what was typed, the confirmation."""
    return {
        "labels": REQUEST_STATUS_LABELS,
        "channels": CHANNEL_LABELS,
        "left": _left(signed),
        "refusal": shown,
        "sent": sent,
        "values": values or {},
        "reason_max": REASON_MAX,
        "done": done_message(request, DONE),
    }


async def _deletion_page(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    request_id: uuid.UUID,
    *,
    shown: Refused | None = None,
    sent: str | None = None,
    values: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.DELETION_READ)
    service = DeletionService(runtime, session, actor)
    out = await service.get(request_id, with_note=may_read_free_text(actor.role))
    held = out.status == "pending" and await is_on_legal_hold(
        session,
        out.customer_id,
        unapproved_hold_days=runtime.settings.judicial_unapproved_hold_days,
    )
    ledger = await _ledger(runtime, session, actor, out)
    await session.commit()
    return render(
        request,
        signed,
        "dpodesk_deletion.html",
        {
            "req": out,
            "held": held,
            "ledger": ledger,
            "carriers": ERASED_CARRIERS,
            "may_decide": may_call(actor.role, Operation.DELETION_DECIDE),
            "may_read_log": may_call(actor.role, Operation.AUDIT_EVENTS),
            "reveal": may_read_free_text(actor.role),
            **_decision_context(request, signed, shown, sent, values),
        },
        status=status,
    )


@router.get(f"{DELETIONS}/{{request_id}}")
async def deletion_request(
    request: Request,
    request_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
) -> Response:
    """As ``GET /v1/deletion-requests/{id}``; the customer's note for the dpo only."""
    return await _deletion_page(request, runtime, session, signed, request_id)


def _remembered(out: DeletionRequestOut | AccessRequestOut) -> dict[str, Any]:
    """What a decision's form remembers under its key: ids and the state, never the reason
    (staff's text about the person is sealed under their key; the store is not)."""
    return {"id": str(out.id), "customer_id": str(out.customer_id), "status": out.status}


def _request_form(form: Mapping[str, str], request_id: uuid.UUID) -> dict[str, str]:
    """The form as it is remembered under its key: bound to the request it decides."""
    return {**form, "request_id": str(request_id)}


@router.post(f"{DELETIONS}/{{request_id}}/approve")
async def approve_deletion(
    request: Request,
    request_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """As ``POST /v1/deletion-requests/{id}/approve``: the customer is erased now; a legal
    hold (409 ``legal_hold``) is shown on the page and nothing changes."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.DELETION_DECIDE)
    service = DeletionService(runtime, session, actor)

    async def work() -> dict[str, Any]:
        out = await service.approve(request_id)
        return out.model_dump(mode="json")

    try:
        result, repeat = await act_once(
            runtime, session, actor, _request_form(form, request_id), "deletion.approve", work
        )
    except Problem as problem:
        shown = await rolled_back(session, problem)
        return await _deletion_page(
            request,
            runtime,
            session,
            signed,
            request_id,
            shown=shown,
            sent="approve",
            status=problem.status,
        )
    if not repeat:
        # As the API: after the erasure's commit, settle storage and record whether it has
        # left the database files.
        await service.settle(
            DeletionRequestOut.model_validate(result), await settle_storage(runtime.engine)
        )
        await session.commit()
    return see_other(f"{DELETIONS}/{request_id}", "executed")


def _reason_errors(raw: str, schema: type[DeletionRejectIn] | type[AccessRejectIn]) -> str | None:
    """The reason as the API's body checks it (1-500 characters); blank counts as missing."""
    if not raw.strip():
        return REASON_REQUIRED
    try:
        schema.model_validate({"reason": raw})
    except ValidationError:
        return REASON_TOO_LONG
    return None


@dataclass(frozen=True)
class _Decided:
    """A decision's post on a request's page: who sends which form about which request."""

    request: Request
    runtime: Runtime
    session: AsyncSession
    signed: SignedIn
    actor: Actor
    form: Mapping[str, str]
    request_id: uuid.UUID


class _Rejecting(Protocol):
    async def reject(
        self, request_id: uuid.UUID, reason: str
    ) -> DeletionRequestOut | AccessRequestOut: ...


class _RequestPage(Protocol):
    async def __call__(
        self,
        request: Request,
        runtime: Runtime,
        session: AsyncSession,
        signed: SignedIn,
        request_id: uuid.UUID,
        *,
        shown: Refused | None = None,
        sent: str | None = None,
        values: Mapping[str, str] | None = None,
        status: int = 200,
    ) -> Response: ...


async def _reject(
    service: _Rejecting,
    post: _Decided,
    *,
    schema: type[DeletionRejectIn] | type[AccessRejectIn],
    page: _RequestPage,
    path: str,
    operation: str,
) -> Response:
    """A deletion or access request rejected with its reason, once per drawn form: a bad
    reason is the form's 422, a refusal is shown on the request's page, nothing of it stays."""
    reason = post.form.get("reason", "").strip()

    async def again(shown: Refused, status: int) -> Response:
        return await page(
            post.request,
            post.runtime,
            post.session,
            post.signed,
            post.request_id,
            shown=shown,
            sent="reject",
            values={"reason": reason},
            status=status,
        )

    error = _reason_errors(reason, schema)
    if error is not None:
        return await again(
            Refused(N_("Something in the form is not valid."), {"reason": error}), 422
        )

    async def work() -> dict[str, Any]:
        return _remembered(await service.reject(post.request_id, reason))

    try:
        await act_once(
            post.runtime,
            post.session,
            post.actor,
            _request_form({**post.form, "reason": reason}, post.request_id),
            operation,
            work,
        )
    except Problem as problem:
        return await again(await rolled_back(post.session, problem), problem.status)
    return see_other(f"{path}/{post.request_id}", "rejected")


@router.post(f"{DELETIONS}/{{request_id}}/reject")
async def reject_deletion(
    request: Request,
    request_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """As ``POST /v1/deletion-requests/{id}/reject``, with the reason the API asks."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.DELETION_DECIDE)
    return await _reject(
        DeletionService(runtime, session, actor),
        _Decided(request, runtime, session, signed, actor, form, request_id),
        schema=DeletionRejectIn,
        page=_deletion_page,
        path=DELETIONS,
        operation="deletion.reject",
    )


# -- access requests -----------------------------------------------------------------------


@router.get(ACCESSES)
async def access_requests(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    status: StatusQuery = None,
    cursor: Cursor = None,
) -> Response:
    """As ``GET /v1/access-requests`` (dpo, auditor)."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.ACCESS_REQUEST_LIST)
    chosen = status if status in ACCESS_STATUSES else None
    page = await AccessRequestService(runtime, session, actor).list(chosen, None, PAGE_SIZE, cursor)
    await session.commit()
    return _requests_page(request, signed, "access", ACCESSES, ACCESS_STATUSES, chosen, page)


async def _access_page(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    request_id: uuid.UUID,
    *,
    shown: Refused | None = None,
    sent: str | None = None,
    values: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.ACCESS_REQUEST_READ)
    out = await AccessRequestService(runtime, session, actor).get(request_id)
    await session.commit()
    return render(
        request,
        signed,
        "dpodesk_access.html",
        {
            "req": out,
            "may_decide": may_call(actor.role, Operation.ACCESS_REQUEST_DECIDE),
            "may_export": may_call(actor.role, Operation.CUSTOMER_EXPORT),
            **_decision_context(request, signed, shown, sent, values),
        },
        status=status,
    )


@router.get(f"{ACCESSES}/{{request_id}}")
async def access_request(
    request: Request,
    request_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
) -> Response:
    """As ``GET /v1/access-requests/{id}``."""
    return await _access_page(request, runtime, session, signed, request_id)


@router.get(f"{ACCESSES}/{{request_id}}/export")
async def access_export(
    request: Request,
    request_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
) -> Response:
    """The document the person gets: ``GET /v1/customers/{id}/export`` for the request's
    customer, under the role's default purpose (the dpo's ``data_subject_request``, open
    while the request is pending), as a JSON download; its ``customer.export`` event is the
    API's."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.CUSTOMER_EXPORT)
    await pass_gate(request, runtime, session, actor, Operation.ACCESS_REQUEST_READ)
    req = await AccessRequestService(runtime, session, actor).get(request_id)
    purpose = default_purpose(Operation.CUSTOMER_EXPORT, actor.role)
    out = await export.export_customer(runtime, session, actor, req.customer_id, purpose)
    await session.commit()
    body = orjson.dumps(out.model_dump(mode="json"), option=orjson.OPT_INDENT_2)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="access-request-{request_id}.json"',
        },
    )


@router.post(f"{ACCESSES}/{{request_id}}/fulfil")
async def fulfil_access(
    request: Request,
    request_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """As ``POST /v1/access-requests/{id}/fulfil``: marks it served and closes it."""
    actor = await pass_gate(
        request, runtime, session, signed.actor, Operation.ACCESS_REQUEST_DECIDE
    )
    service = AccessRequestService(runtime, session, actor)

    async def work() -> dict[str, Any]:
        return _remembered(await service.fulfil(request_id))

    try:
        await act_once(
            runtime, session, actor, _request_form(form, request_id), "access.fulfil", work
        )
    except Problem as problem:
        shown = await rolled_back(session, problem)
        return await _access_page(
            request,
            runtime,
            session,
            signed,
            request_id,
            shown=shown,
            sent="fulfil",
            status=problem.status,
        )
    return see_other(f"{ACCESSES}/{request_id}", "fulfilled")


@router.post(f"{ACCESSES}/{{request_id}}/reject")
async def reject_access(
    request: Request,
    request_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """As ``POST /v1/access-requests/{id}/reject``, with the reason the API asks."""
    actor = await pass_gate(
        request, runtime, session, signed.actor, Operation.ACCESS_REQUEST_DECIDE
    )
    return await _reject(
        AccessRequestService(runtime, session, actor),
        _Decided(request, runtime, session, signed, actor, form, request_id),
        schema=AccessRejectIn,
        page=_access_page,
        path=ACCESSES,
        operation="access.reject",
    )


# -- complaints ----------------------------------------------------------------------------


Transition = tuple[dict[str, str], dict[str, str], TransitionIn | None]


def _read_transition(form: Mapping[str, str], allowed: list[str]) -> Transition:
    """The form's values, a message per bad field, and the API's body when all is well."""
    values = {
        "to": form.get("to", ""),
        "note": form.get("note", "").strip(),
        "measures": form.get("measures", "").strip(),
        "rejection_ground": form.get("rejection_ground", ""),
        "evidence": form.get("evidence", "").strip(),
    }
    errors: dict[str, str] = {}
    if values["to"] not in allowed:
        errors["to"] = CHOOSE_STATE
    if not values["note"]:
        errors["note"] = NOTE_REQUIRED
    elif len(values["note"]) > NOTE_MAX:
        errors["note"] = TEXT_TOO_LONG
    if len(values["measures"]) > NOTE_MAX:
        errors["measures"] = TEXT_TOO_LONG
    ground = values["rejection_ground"]
    if values["to"] == ComplaintStatus.REJECTED.value and ground not in REJECTION_GROUNDS:
        errors["rejection_ground"] = GROUND_REQUIRED
    elif values["to"] != ComplaintStatus.REJECTED.value and ground:
        errors["rejection_ground"] = GROUND_ONLY_REJECTED
    evidence: list[int] = []
    for part in values["evidence"].replace(";", ",").split(","):
        part = part.strip().lstrip("#")
        if not part:
            continue
        if not part.isdigit() or not 1 <= int(part) <= 2**63 - 1 or len(evidence) >= 100:
            errors["evidence"] = EVIDENCE_BAD
            break
        evidence.append(int(part))
    if errors:
        return values, errors, None
    try:
        body = TransitionIn(
            to=values["to"],
            note=values["note"],
            measures=values["measures"] or None,
            evidence_event_ids=evidence,
            rejection_ground=ground or None,
        )
    except ValidationError as error:
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else "note"
            errors["evidence" if name == "evidence_event_ids" else name] = N_("Not valid.")
        return values, errors, None
    return values, errors, body


@router.post(f"{COMPLAINTS}/{{complaint_id}}/transition")
async def move_complaint(
    request: Request,
    complaint_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """As ``POST /v1/complaints/{id}/transitions``: the next state, its note, and for a
    rejection its ground (the console asks for one; docs/decisions.md)."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.COMPLAINT_TRANSITION)
    service = ComplaintService(runtime, session, actor)
    # Any state is read here; the service refuses one the machine does not allow from where
    # the complaint is now (409 invalid_transition, logged), as the API does.
    values, errors, body = _read_transition(form, [s.value for s in ComplaintStatus])
    if body is None:
        return await complaint_page(
            request,
            runtime,
            session,
            signed,
            complaint_id,
            move=values,
            move_errors=errors,
            move_message=N_("Something in the form is not valid."),
            status=422,
        )

    async def work() -> dict[str, Any]:
        out = await service.transition(complaint_id, body)
        return {"id": str(out.id), "status": out.status}

    try:
        await act_once(
            runtime,
            session,
            actor,
            {**form, "complaint_id": str(complaint_id)},
            "complaint.transition",
            work,
        )
    except Problem as problem:
        shown = await rolled_back(session, problem, {"evidence_event_ids": "evidence"})
        fields = {("evidence" if k.isdigit() else k): v for k, v in shown.fields.items()}
        return await complaint_page(
            request,
            runtime,
            session,
            signed,
            complaint_id,
            move=values,
            move_errors=fields,
            move_message=shown.message,
            status=problem.status,
        )
    return see_other(f"{COMPLAINTS}/{complaint_id}", "moved")
