"""Pages that show personal data (issue 18.1): a customer read for a stated purpose, the
complaints and one complaint. They call the API's own services (``CustomerService``,
``ComplaintService``), which decide through the policy and log through ``AuditedAccess``
and ``AuditLog`` exactly as for the API; the events carry the console's request-id marker.
A customer is read by a form POST: no personal value and no free text ever sits in a URL."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from pdvault.console.actions import done_message, refused
from pdvault.console.dpodesk import DONE, transition_context
from pdvault.console.i18n import N_
from pdvault.console.web import PREFIX, ConsolePage, PostedForm, render
from pdvault.customers.schemas import SearchIn
from pdvault.customers.search import CustomerSearch
from pdvault.customers.service import CustomerService
from pdvault.deps import RuntimeDep, SessionDep, pass_gate
from pdvault.errors import Problem
from pdvault.governance.complaints import ComplaintService
from pdvault.pagination import Cursor
from pdvault.policy import Access, Operation, Purpose, may_read_free_text, purposes_for

router = APIRouter(include_in_schema=False)

CUSTOMERS = f"{PREFIX}/customers"
COMPLAINTS = f"{PREFIX}/complaints"
PAGE_SIZE = 50
STATUSES = ("received", "investigating", "upheld", "rejected", "closed")


def _customer_page(
    request: Request,
    signed: ConsolePage,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    customer: dict[str, object] | None = None,
    hits: list[dict[str, object]] | None = None,
    refusal: Problem | None = None,
) -> Response:
    """The lookup: find by phone or email, read by id, for a purpose the role may state
    (the policy's list). A refusal by the service (logged by it) is shown on the page."""
    status = refusal.status if refusal is not None else 422 if errors else 200
    return render(
        request,
        signed,
        "customer.html",
        {
            "values": values,
            "errors": errors or {},
            "customer": customer,
            "hits": hits,
            "purposes": purposes_for(signed.actor.role, Access.READ, with_fields=True),
            "refusal": refused(refusal) if refusal is not None else None,
        },
        status=status,
    )


def _purpose_error(purpose: str) -> str | None:
    """A purpose the table does not know is the form's fault (422); a known one the role may
    not state goes to the service, which refuses it and logs the refusal as for the API."""
    return None if purpose in set(Purpose) else N_("Not one of the listed values.")


@router.get(CUSTOMERS)
async def customer_form(
    request: Request, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage
) -> Response:
    await pass_gate(request, runtime, session, signed.actor, Operation.CUSTOMER_READ)
    return _customer_page(request, signed, {})


@router.post(CUSTOMERS)
async def customer_read(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """One customer's fields for a purpose, read as ``GET /v1/customers/{id}`` reads them."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.CUSTOMER_READ)
    values = {k: form.get(k, "").strip() for k in ("customer_id", "purpose", "justification")}
    errors: dict[str, str] = {}
    customer_id: uuid.UUID | None = None
    try:
        customer_id = uuid.UUID(values["customer_id"])
    except ValueError:
        errors["customer_id"] = N_("Not an id.")
    if error := _purpose_error(values["purpose"]):
        errors["purpose"] = error
    if errors or customer_id is None:
        return _customer_page(request, signed, values, errors=errors)
    service = CustomerService(runtime, session, actor)
    try:
        body, _ = await service.read(
            customer_id, values["purpose"], None, values["justification"] or None
        )
    except Problem as problem:
        return _customer_page(request, signed, values, refusal=problem)
    await session.commit()
    return _customer_page(request, signed, values, customer=body)


@router.post(f"{CUSTOMERS}/search")
async def customer_search(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """Customers found by phone or email for a purpose, as ``POST /v1/customers/search``
    finds them: the phone or email travels in the form's body, never in a URL."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.CUSTOMER_SEARCH)
    values = {k: form.get(k, "").strip() for k in ("key", "purpose", "justification")}
    errors: dict[str, str] = {}
    if error := _purpose_error(values["purpose"]):
        errors["purpose"] = error
    key = values["key"]
    try:
        query = SearchIn.model_validate(
            {"email" if "@" in key else "phone": key, "purpose": values["purpose"]}
        )
    except ValidationError:
        errors["key"] = N_("Not a phone number or an email address.")
    if errors:
        return _customer_page(request, signed, values, errors=errors)
    search = CustomerSearch(runtime, session, actor)
    try:
        hits = await search.search(query, values["justification"] or None)
    except Problem as problem:
        return _customer_page(request, signed, {"purpose": values["purpose"]}, refusal=problem)
    await session.commit()
    # The form is shown again empty: the phone or email is not echoed back into the page.
    return _customer_page(request, signed, {"purpose": values["purpose"]}, hits=hits)


@router.get(COMPLAINTS)
async def complaints(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    status: Annotated[str | None, Query(max_length=16)] = None,
    cursor: Cursor = None,
) -> Response:
    """The complaints' metadata, as ``GET /v1/complaints`` (dpo, auditor)."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.COMPLAINT_LIST)
    chosen = status if status in STATUSES else None
    page = await ComplaintService(runtime, session, actor).list(PAGE_SIZE, cursor, status=chosen)
    await session.commit()
    query = {"status": chosen} if chosen else {}
    next_link = (
        f"{COMPLAINTS}?{urlencode({**query, 'cursor': page.next_cursor})}"
        if page.next_cursor
        else None
    )
    return render(
        request,
        signed,
        "complaints.html",
        {"page": page, "status": chosen or "", "statuses": STATUSES, "next_link": next_link},
    )


async def complaint_page(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    complaint_id: uuid.UUID,
    *,
    move: Mapping[str, str] | None = None,
    move_errors: Mapping[str, str] | None = None,
    move_message: str | None = None,
    status: int = 200,
) -> Response:
    """One complaint and its history; its free text for the dpo only (the service decides).
    The DPO's desk (issue 19.1) adds the transition form for a role that may move it, drawn
    again as sent (``move``) when a move was not done (dpodesk_router)."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.COMPLAINT_READ)
    out = await ComplaintService(runtime, session, actor).get(complaint_id)
    await session.commit()
    context = transition_context(actor, out.status)
    if move is not None:
        context.update(move=dict(move), move_errors=dict(move_errors or {}))
    return render(
        request,
        signed,
        "complaint.html",
        {
            "complaint": out,
            "reveal": may_read_free_text(actor.role),
            **context,
            "move_message": move_message,
            "done": done_message(request, DONE),
        },
        status=status,
    )


@router.get(f"{COMPLAINTS}/{{complaint_id}}")
async def complaint(
    request: Request,
    complaint_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
) -> Response:
    """One complaint and its history (``complaint_page``)."""
    return await complaint_page(request, runtime, session, signed, complaint_id)
