"""The auditor's room (issue 18.4): the access log as a filtered, paged table, an event's
detail, the CSV of a filtered view, verification with the checkpoints and the public key,
and a customer's access report. Every page asks the policy for the same operation as its
API route (``deps.pass_gate``, a refusal logged), reads through the API's own queries
(``audit/service.py``) and writes the same access event, marked as the console's."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from pdvault.audit import service
from pdvault.audit.schemas import AccessReportItem, EventOut
from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.console.auditing import (
    ACTIONS,
    OUTCOMES,
    PAGE_SIZE,
    PURPOSES,
    ROLES,
    csv_lines,
    from_console,
    principal_names,
    read_filters,
    run_verify,
)
from pdvault.console.web import PREFIX, ConsolePage, PostedForm, render
from pdvault.customers.access import AuditedAccess
from pdvault.deps import RuntimeDep, SessionDep, pass_gate
from pdvault.errors import NotFound
from pdvault.pagination import Cursor, int_after
from pdvault.policy import Operation

router = APIRouter(include_in_schema=False)

EVENTS = f"{PREFIX}/audit/events"
VERIFY = f"{PREFIX}/audit/verify"
REPORT = f"{PREFIX}/customers/access-report"


def _event(operation: Operation, customer_id: uuid.UUID | None = None) -> EventDraft:
    return EventDraft(action=operation.value, outcome=ALLOWED, customer_id=customer_id)


@router.get(EVENTS)
async def events(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    cursor: Cursor = None,
) -> Response:
    """The access log, filtered (time range, principal, role, action, outcome, purpose,
    customer id), oldest first, a page at a time (``cursor``: the API's own)."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.AUDIT_EVENTS)
    form = read_filters(request.query_params)
    items: list[EventOut] = []
    next_cursor = None
    if not form.errors:
        items, next_cursor = await service.list_events(
            session, form.flt, PAGE_SIZE, int_after(cursor)
        )
    names = await principal_names(session, (e.principal_id for e in items))
    await runtime.audit.commit_read(session, actor, _event(Operation.AUDIT_EVENTS))
    return render(
        request,
        signed,
        "audit_events.html",
        {
            "form": form,
            "items": items,
            "names": names,
            "from_console": from_console,
            "next_link": f"{EVENTS}?{urlencode(form.query(cursor=next_cursor))}"
            if next_cursor
            else None,
            "first_link": f"{EVENTS}?{urlencode(form.query())}" if cursor else None,
            "csv_link": f"{EVENTS}.csv?{urlencode(form.query())}",
            "roles": ROLES,
            "outcomes": OUTCOMES,
            "purposes": PURPOSES,
            "actions": ACTIONS,
        },
        status=422 if form.errors else 200,
    )


@router.get(f"{EVENTS}.csv")
async def events_csv(
    request: Request, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage
) -> Response:
    """Every event of the filtered view as CSV, streamed (the API's export: auditor)."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.AUDIT_EXPORT)
    form = read_filters(request.query_params)
    if form.errors:
        raise NotFound("No such view: a filter is not valid.")
    await runtime.audit.append(session, actor, _event(Operation.AUDIT_EXPORT))
    await session.commit()
    return StreamingResponse(
        csv_lines(runtime.sessions, form.flt),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="access-events.csv"'},
    )


@router.get(f"{EVENTS}/{{seq}}")
async def event_detail(
    request: Request, seq: int, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage
) -> Response:
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.AUDIT_EVENTS)
    found: list[EventOut] = []
    if 0 < seq < 2**63:
        found, _ = await service.list_events(session, service.EventFilter(), 1, seq - 1)
    if not found or found[0].seq != seq:
        raise NotFound("No such event.")
    event = found[0]
    names = await principal_names(session, (event.principal_id, event.target_principal_id))
    await runtime.audit.commit_read(session, actor, _event(Operation.AUDIT_EVENTS))
    return render(
        request,
        signed,
        "audit_event.html",
        {"event": event, "names": names, "console": from_console(event)},
    )


async def _verify_page(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    cursor: str | None,
    result: object = None,
) -> Response:
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.AUDIT_CHECKPOINTS)
    checkpoints, next_cursor = await service.list_checkpoints(session, PAGE_SIZE, int_after(cursor))
    await runtime.audit.append(session, actor, _event(Operation.AUDIT_CHECKPOINTS))
    await session.commit()
    signer = runtime.audit.signer
    return render(
        request,
        signed,
        "audit_verify.html",
        {
            "result": result,
            "checkpoints": checkpoints,
            "next_link": f"{VERIFY}?{urlencode({'cursor': next_cursor})}" if next_cursor else None,
            "key_id": signer.key_id,
        },
    )


@router.get(VERIFY)
async def verification(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    cursor: Cursor = None,
) -> Response:
    """The checkpoints with their signatures, the public key, and a button to verify."""
    return await _verify_page(request, runtime, session, signed, cursor)


@router.post(VERIFY)
async def verify_now(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    _: PostedForm,
) -> Response:
    """Verify the whole log now (as ``GET /v1/audit/verify``) and show the result."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.AUDIT_VERIFY)
    await runtime.audit.append(session, actor, _event(Operation.AUDIT_VERIFY))
    await session.commit()
    result = await run_verify(runtime)
    return await _verify_page(request, runtime, session, signed, None, result)


@router.get(f"{PREFIX}/audit/public-key.pem")
async def public_key(
    request: Request, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage
) -> Response:
    """The Ed25519 key that verifies checkpoints and writer registrations, as a PEM file."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.AUDIT_PUBLIC_KEY)
    await runtime.audit.append(session, actor, _event(Operation.AUDIT_PUBLIC_KEY))
    await session.commit()
    signer = runtime.audit.signer
    return Response(
        signer.public_pem(),
        media_type="application/x-pem-file",
        headers={
            "Content-Disposition": f'attachment; filename="pdvault-audit-{signer.key_id}.pem"'
        },
    )


@router.get(REPORT)
async def access_report(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Cursor = None,
) -> Response:
    """Every access to one customer: when, who, why (the API's access report: dpo)."""
    actor = await pass_gate(
        request, runtime, session, signed.actor, Operation.CUSTOMER_ACCESS_REPORT
    )
    wanted: uuid.UUID | None = None
    error = None
    if customer_id:
        try:
            wanted = uuid.UUID(customer_id.strip())
        except ValueError:
            error = "invalid"
    items: list[AccessReportItem] = []
    next_cursor = None
    if wanted is not None:
        operation = Operation.CUSTOMER_ACCESS_REPORT.value
        await AuditedAccess(runtime, session, actor).live_customer(operation, wanted)
        items, next_cursor = await service.access_report(
            session, wanted, PAGE_SIZE, int_after(cursor)
        )
        await runtime.audit.append(
            session, actor, _event(Operation.CUSTOMER_ACCESS_REPORT, customer_id=wanted)
        )
        await session.commit()
    next_link = None
    if next_cursor and wanted is not None:
        next_link = f"{REPORT}?{urlencode({'customer_id': str(wanted), 'cursor': next_cursor})}"
    return render(
        request,
        signed,
        "access_report.html",
        {
            "customer_id": customer_id or "",
            "wanted": wanted,
            "error": error,
            "items": items,
            "next_link": next_link,
        },
        status=422 if error else 200,
    )
