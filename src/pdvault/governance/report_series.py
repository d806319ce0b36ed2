"""The compliance report over a chosen period as series a chart can draw (issue 18.5).

Every figure has one definition, in ``reports.py``: the report itself is computed by
``compliance_report`` and carried whole; the series split the same counts by day (accesses by
role and by purpose, denials by reason), add access requests beside deletion requests and
complaints (on time, late, overdue against their deadlines), and list each breach with its
notification delay against its deadline. Counting is GROUP BY on the database; Python only
files the grouped counts into buckets.

A period is a range of calendar days in the shop's time zone, both ends included. Days are
cut on the database by the zone's UTC offset at the period's start: exact for
Asia/Ho_Chi_Minh (no daylight saving); in a zone that changes offset inside the period an
event within the hour of the change may be filed in the neighbouring day (docs/decisions.md).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, String, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from pdvault.audit.models import AccessEvent
from pdvault.governance.models import Breach
from pdvault.governance.report_schemas import ComplianceReport
from pdvault.governance.reports import (
    ALLOWED,
    DENIED,
    as_of,
    authority_notice_state,
    breaches_detected_in,
    compliance_report,
    decided_by_lateness,
    events_in,
    report_csv,
    requests_overdue,
    requests_received,
)
from pdvault.subjects.models import AccessRequest

DEFAULT_DAYS = 30
MAX_DAYS = 731  # two years: a year's report against the one before


class Step(StrEnum):
    """How long one bar of a series over time is: short periods by day, longer ones coarser
    so a chart stays readable on a phone."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


DAILY_UP_TO, WEEKLY_UP_TO = 62, 366


class PeriodError(ValueError):
    """A period that cannot be reported on; the message names the problem, never a value."""


@dataclass(frozen=True)
class Period:
    first: date
    last: date
    zone: tzinfo  # the shop's time zone

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise PeriodError("the period ends before it starts")
        if self.days > MAX_DAYS:
            raise PeriodError(f"a period covers at most {MAX_DAYS} days")

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def since(self) -> datetime:
        """The start of the first day, in UTC (inclusive)."""
        return datetime.combine(self.first, time(), self.zone).astimezone(UTC)

    @property
    def until(self) -> datetime:
        """The start of the day after the last, in UTC (exclusive)."""
        return datetime.combine(self.last + timedelta(days=1), time(), self.zone).astimezone(UTC)

    @property
    def step(self) -> Step:
        if self.days <= DAILY_UP_TO:
            return Step.DAY
        return Step.WEEK if self.days <= WEEKLY_UP_TO else Step.MONTH

    def _start_of(self, day: date) -> date:
        if self.step is Step.WEEK:
            start = day - timedelta(days=day.weekday())
        elif self.step is Step.MONTH:
            start = day.replace(day=1)
        else:
            start = day
        return max(start, self.first)

    @property
    def buckets(self) -> tuple[date, ...]:
        """The first day (within the period) of each bar, in order."""
        starts: list[date] = []
        day = self.first
        while day <= self.last:
            start = self._start_of(day)
            if not starts or starts[-1] != start:
                starts.append(start)
            day += timedelta(days=1)
        return tuple(starts)

    def bucket_of(self, day: date) -> date:
        """The bar a day is counted in (a day just outside the period, see the module's
        note on offsets, goes to the nearest bar)."""
        return self._start_of(min(max(day, self.first), self.last))


def last_days(now: datetime, zone: tzinfo, days: int = DEFAULT_DAYS) -> Period:
    """The ``days`` calendar days up to and including today in ``zone``."""
    today = now.astimezone(zone).date()
    return Period(first=today - timedelta(days=days - 1), last=today, zone=zone)


# -- the day of an event, cut on the database ----------------------------------------------


class _LocalDay(FunctionElement[str]):
    """``'YYYY-MM-DD'`` of a UTC time column moved by a whole number of seconds. The offset
    is a literal (an int the code computed), so a GROUP BY repeats the very same text."""

    type = String()
    inherit_cache = True
    name = "local_day"


@compiles(_LocalDay, "sqlite")
def _local_day_sqlite(element: _LocalDay, compiler: SQLCompiler, **kw: Any) -> str:
    column, offset = (compiler.process(c, **kw) for c in element.clauses)
    # SQLite keeps UTCDateTime as naive UTC text, which date() reads.
    return f"date({column}, '{offset} seconds')"


@compiles(_LocalDay, "postgresql")
def _local_day_postgresql(element: _LocalDay, compiler: SQLCompiler, **kw: Any) -> str:
    column, offset = (compiler.process(c, **kw) for c in element.clauses)
    return f"to_char(timezone('UTC', {column}) + {offset} * interval '1 second', 'YYYY-MM-DD')"


def local_day(column: Any, period: Period) -> ColumnElement[str]:
    offset = period.zone.utcoffset(datetime.combine(period.first, time()))
    seconds = int(offset.total_seconds()) if offset is not None else 0
    return _LocalDay(column, literal_column(str(seconds)))


# -- the series ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One key's counts, bar by bar (``key`` None: events without a role, purpose or reason,
    such as governance and administrative acts, which carry no purpose)."""

    key: str | None
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class Stacked:
    """Counts per bar, split by a key: the layers of a stacked bar chart."""

    buckets: tuple[date, ...]
    layers: tuple[Layer, ...]

    @property
    def totals(self) -> tuple[int, ...]:
        return tuple(
            sum(layer.counts[i] for layer in self.layers) for i in range(len(self.buckets))
        )

    @property
    def total(self) -> int:
        return sum(layer.total for layer in self.layers)


@dataclass(frozen=True)
class Timeliness:
    """What arrived in the period (requests filed, complaints received, breaches detected),
    the answers given in it by their deadline or after it, and those still owed and past due
    at the report's ``as_of`` (whenever they arrived)."""

    received: int
    on_time: int
    late: int
    overdue: int


class Deadline(StrEnum):
    DELETION = "deletion_requests"
    ACCESS = "access_requests"
    COMPLAINT = "complaints"
    BREACH = "breach_notices"


@dataclass(frozen=True)
class BreachDelay:
    """A breach detected in the period, its notice to the authority against the deadline.
    ``delay_hours`` runs to the notice, or to ``as_of`` while none was sent by then."""

    id: uuid.UUID
    detected_at: datetime
    deadline_hours: float
    delay_hours: float
    notified: bool
    state: str  # on_time | late | overdue | pending, as reports.authority_notice_state


@dataclass(frozen=True)
class ComplianceSeries:
    period: Period
    report: ComplianceReport
    accesses_by_role: Stacked
    accesses_by_purpose: Stacked
    denials_by_reason: Stacked
    deadlines: dict[Deadline, Timeliness]
    breaches: tuple[BreachDelay, ...]


def _sort_key(key: str | None) -> tuple[bool, str]:
    return (key is None, key or "")


def _stack(period: Period, grouped: Iterable[tuple[str, str | None, int]]) -> Stacked:
    """(day text, key, count) groups filed into the period's bars."""
    buckets = period.buckets
    place = {start: i for i, start in enumerate(buckets)}
    counts: dict[str | None, list[int]] = defaultdict(lambda: [0] * len(buckets))
    for day, key, n in grouped:
        counts[key][place[period.bucket_of(date.fromisoformat(day))]] += int(n)
    layers = tuple(Layer(k, tuple(counts[k])) for k in sorted(counts, key=_sort_key))
    return Stacked(buckets=buckets, layers=layers)


async def _allowed_by_day(
    session: AsyncSession, period: Period
) -> list[tuple[str, str | None, str | None, int]]:
    e = AccessEvent
    day = local_day(e.at, period)
    rows = await session.execute(
        select(day, e.role, e.purpose, func.count())
        .where(*events_in(ALLOWED, period.since, period.until))
        .group_by(day, e.role, e.purpose)
    )
    return [(d, role, purpose, int(n)) for d, role, purpose, n in rows]


async def _denied_by_day(
    session: AsyncSession, period: Period
) -> list[tuple[str, str | None, int]]:
    e = AccessEvent
    day = local_day(e.at, period)
    rows = await session.execute(
        select(day, e.reason, func.count())
        .where(*events_in(DENIED, period.since, period.until))
        .group_by(day, e.reason)
    )
    return [(d, reason, int(n)) for d, reason, n in rows]


async def _access_requests(
    session: AsyncSession, since: datetime, until: datetime, at: datetime
) -> Timeliness:
    a = AccessRequest
    decided = await decided_by_lateness(session, a, since, until)
    return Timeliness(
        received=await requests_received(session, a, since, until),
        on_time=decided["on_time"],
        late=decided["late"],
        overdue=await requests_overdue(session, a, at),
    )


def _hours(span: timedelta) -> float:
    return round(max(span.total_seconds(), 0.0) / 3600, 1)


async def _breach_delays(
    session: AsyncSession, since: datetime, until: datetime, at: datetime
) -> tuple[BreachDelay, ...]:
    """The breaches detected in the window (a register of a few rows, not the log)."""
    b = Breach
    rows = await session.execute(
        select(
            b.id,
            b.detected_at,
            b.authority_due_at,
            b.authority_notified_at,
            authority_notice_state(at),
        )
        .where(*breaches_detected_in(since, until))
        .order_by(b.detected_at, b.id)
    )
    delays: list[BreachDelay] = []
    for breach_id, detected, due, notified_at, state in rows:
        sent = notified_at if notified_at is not None and notified_at <= at else None
        delays.append(
            BreachDelay(
                id=breach_id,
                detected_at=detected,
                deadline_hours=_hours(due - detected),
                delay_hours=_hours((sent or at) - detected),
                notified=sent is not None,
                state=state,
            )
        )
    return tuple(delays)


async def compliance_series(
    session: AsyncSession, period: Period, now: datetime
) -> ComplianceSeries:
    since, until = period.since, period.until
    report = await compliance_report(session, since, until, now=now)
    at = as_of(until, now)
    allowed = await _allowed_by_day(session, period)
    deletions, complaints, breaches = (
        report.deletion_requests,
        report.complaints,
        report.breaches,
    )
    return ComplianceSeries(
        period=period,
        report=report,
        accesses_by_role=_stack(period, ((d, role, n) for d, role, _, n in allowed)),
        accesses_by_purpose=_stack(period, ((d, purpose, n) for d, _, purpose, n in allowed)),
        denials_by_reason=_stack(period, await _denied_by_day(session, period)),
        deadlines={
            Deadline.DELETION: Timeliness(
                deletions.received, deletions.on_time, deletions.late, deletions.overdue
            ),
            Deadline.ACCESS: await _access_requests(session, since, until, at),
            Deadline.COMPLAINT: Timeliness(
                complaints.received,
                complaints.answered_on_time,
                complaints.answered_late,
                complaints.overdue,
            ),
            Deadline.BREACH: Timeliness(
                breaches.detected,
                breaches.authority_on_time,
                breaches.authority_late,
                breaches.authority_overdue,
            ),
        },
        breaches=await _breach_delays(session, since, until, at),
    )


# -- downloads ---------------------------------------------------------------------------------


def _stacked_json(stacked: Stacked) -> dict[str, Any]:
    return {
        "buckets": [b.isoformat() for b in stacked.buckets],
        "layers": [{"key": y.key, "counts": list(y.counts)} for y in stacked.layers],
    }


STACKED = ("accesses_by_role", "accesses_by_purpose", "denials_by_reason")


def series_json(series: ComplianceSeries) -> dict[str, Any]:
    """The report (as the API gives it) and the series, as JSON-ready values."""
    p = series.period
    return {
        "period": {
            "first": p.first.isoformat(),
            "last": p.last.isoformat(),
            "time_zone": str(p.zone),
            "step": p.step.value,
        },
        "report": series.report.model_dump(mode="json"),
        **{name: _stacked_json(getattr(series, name)) for name in STACKED},
        "deadlines": {
            kind.value: {
                "received": t.received,
                "on_time": t.on_time,
                "late": t.late,
                "overdue": t.overdue,
            }
            for kind, t in series.deadlines.items()
        },
        "breaches": [
            {
                "id": str(b.id),
                "detected_at": b.detected_at.isoformat().replace("+00:00", "Z"),
                "deadline_hours": b.deadline_hours,
                "delay_hours": b.delay_hours,
                "notified": b.notified,
                "state": b.state,
            }
            for b in series.breaches
        ],
    }


def series_csv(series: ComplianceSeries) -> str:
    """The report's ``section,key,value`` rows (``reports.report_csv``), then the series in
    the same three columns: a bar's key is ``<first day>/<key>`` (``-`` for none)."""
    buffer = io.StringIO()
    out = csv.writer(buffer)
    body = series_json(series)
    for key, value in body["period"].items():
        out.writerow(["period", key, value])
    for name in STACKED:
        stacked: Stacked = getattr(series, name)
        for layer in stacked.layers:
            for start, n in zip(stacked.buckets, layer.counts, strict=True):
                out.writerow([name, f"{start.isoformat()}/{layer.key or '-'}", n])
    for kind, figures in body["deadlines"].items():
        for key, n in figures.items():
            out.writerow(["deadlines", f"{kind}.{key}", n])
    for breach in body["breaches"]:
        for key in ("detected_at", "deadline_hours", "delay_hours", "state"):
            out.writerow(["breaches", f"{breach['id']}.{key}", breach[key]])
    return report_csv(series.report) + buffer.getvalue()
