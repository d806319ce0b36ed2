"""The DPO's compliance room (issue 18.5): the compliance report for a period of shop days as
a page (tables and charts) and as CSV and JSON downloads.

Open to the roles the policy lets call ``report.compliance`` (``deps.pass_gate``: anyone else
gets the logged 403). The period is two dates in the query (``from``, ``to``, both included;
the last 30 days without them): nothing personal is in the URL, and nothing in the report is
personal. Each view and download is an access event, as the API's report is.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.console.compliance import (
    SHORTCUTS,
    ComplianceView,
    compliance_view,
    default_period,
    shortcut,
)
from pdvault.console.i18n import N_, SHOP_ZONE
from pdvault.console.web import PREFIX, ConsolePage, console_of, render
from pdvault.deps import RuntimeDep, SessionDep, pass_gate
from pdvault.governance.report_series import (
    MAX_DAYS,
    ComplianceSeries,
    Period,
    PeriodError,
    compliance_series,
    series_csv,
    series_json,
)
from pdvault.policy import Operation

router = APIRouter(include_in_schema=False)

PAGE = f"{PREFIX}/compliance"
BAD_DATE = N_("A date is written YYYY-MM-DD, for example 2026-11-30.")
BACKWARDS = N_("The period must end on or after the day it starts.")
TOO_LONG = N_("A period covers at most %(days)s days.")

# The period's two dates, as the form's date inputs send them.
First = Annotated[str | None, Query(alias="from", max_length=10)]
Last = Annotated[str | None, Query(alias="to", max_length=10)]


class BadPeriod(Exception):
    """The period's dates cannot be read; ``message`` is a catalogue message."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _day(raw: str | None, field: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadPeriod(BAD_DATE, field) from None


def _period(first_raw: str | None, last_raw: str | None, now: datetime) -> Period:
    """The asked-for period; a missing end is today, a missing start 30 days before the end."""
    first, last = _day(first_raw, "from"), _day(last_raw, "to")
    fallback = default_period(now)
    if last is None:
        last = fallback.last
    if first is None:
        first = last - (fallback.last - fallback.first)
    try:
        return Period(first, last, SHOP_ZONE)
    except PeriodError:
        raise BadPeriod(BACKWARDS if last < first else TOO_LONG, "to") from None


async def _gate(
    request: Request, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage
) -> Actor:
    """The policy decides who reads the report; a refusal is the logged 403, before any
    question about the period."""
    return await pass_gate(request, runtime, session, signed.actor, Operation.REPORT_COMPLIANCE)


async def _series(
    runtime: RuntimeDep, session: SessionDep, actor: Actor, period: Period, now: datetime
) -> ComplianceSeries:
    """The figures, with the access event the API's report writes, committed before any
    figure leaves."""
    series = await compliance_series(session, period, now)
    await runtime.audit.append(
        session, actor, EventDraft(action=Operation.REPORT_COMPLIANCE.value, outcome=ALLOWED)
    )
    await session.commit()
    return series


def _query(period: Period) -> str:
    return f"from={period.first.isoformat()}&to={period.last.isoformat()}"


def _page(
    request: Request,
    signed: ConsolePage,
    now: datetime,
    *,
    view: ComplianceView | None = None,
    bad: BadPeriod | None = None,
    first: str = "",
    last: str = "",
) -> Response:
    """The room's page: the report of a period, or the form with what is wrong (422)."""
    context: dict[str, Any] = {
        "shortcuts": [(days, _query(shortcut(now, days))) for days in SHORTCUTS],
        "zone": str(SHOP_ZONE),
        "max_days": MAX_DAYS,
        "view": view,
        "error": bad.message if bad else None,
        "error_field": bad.field if bad else None,
        "first": first,
        "last": last,
        "query": _query(view.period) if view else "",
    }
    return render(request, signed, "compliance.html", context, status=422 if bad else 200)


@router.get(PAGE)
async def compliance_page(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    first: First = None,
    last: Last = None,
) -> Response:
    actor = await _gate(request, runtime, session, signed)
    now = console_of(request).sessions.now()
    try:
        period = _period(first, last, now)
    except BadPeriod as bad:
        return _page(request, signed, now, bad=bad, first=first or "", last=last or "")
    series = await _series(runtime, session, actor, period, now)
    return _page(
        request,
        signed,
        now,
        view=compliance_view(series, signed.language),
        first=period.first.isoformat(),
        last=period.last.isoformat(),
    )


def _filename(period: Period, suffix: str) -> str:
    return f"compliance-{period.first.isoformat()}-{period.last.isoformat()}.{suffix}"


async def _download(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    first: str | None,
    last: str | None,
    suffix: str,
) -> Response:
    """The figures of a period as a file; a bad period answers the page that says why."""
    actor = await _gate(request, runtime, session, signed)
    now = console_of(request).sessions.now()
    try:
        period = _period(first, last, now)
    except BadPeriod as bad:
        return _page(request, signed, now, bad=bad, first=first or "", last=last or "")
    series = await _series(runtime, session, actor, period, now)
    disposition = {"Content-Disposition": f'attachment; filename="{_filename(period, suffix)}"'}
    if suffix == "csv":
        return Response(
            series_csv(series), media_type="text/csv; charset=utf-8", headers=disposition
        )
    return JSONResponse(series_json(series), headers=disposition)


@router.get(f"{PAGE}.csv")
async def compliance_csv(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    first: First = None,
    last: Last = None,
) -> Response:
    return await _download(request, runtime, session, signed, first, last, "csv")


@router.get(f"{PAGE}.json")
async def compliance_json(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    first: First = None,
    last: Last = None,
) -> Response:
    return await _download(request, runtime, session, signed, first, last, "json")
