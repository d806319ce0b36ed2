"""The compliance report as series (issue 18.5), against rows inserted by hand and an injected
"now": every series is recounted from the rows that made it, and reconciled with the report."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import date
from typing import Any

import pytest

from pdvault.governance.report_series import (
    Deadline,
    Period,
    PeriodError,
    Stacked,
    Step,
    Timeliness,
    compliance_series,
    last_days,
    series_csv,
    series_json,
)
from pdvault.governance.reports import report_csv
from tests.report_history import (
    EVENTS,
    NOW,
    ZONE,
    Event,
    insert_breaches,
    insert_complaints,
    insert_customer,
    insert_events,
    insert_requests,
    utc,
)


def _recount(events: list[Event], period: Period, outcome: str, key: str) -> Counter[Any]:
    """(first day of the bar, key) -> count, straight from the rows."""
    counted: Counter[Any] = Counter()
    for e in events:
        if e.outcome == outcome and period.since <= e.at < period.until:
            counted[(period.bucket_of(e.at.astimezone(ZONE).date()), getattr(e, key))] += 1
    return counted


def _cells(stacked: Stacked) -> Counter[Any]:
    """The non-zero (bar, key) -> count cells of a stacked series."""
    return Counter(
        {
            (start, layer.key): n
            for layer in stacked.layers
            for start, n in zip(stacked.buckets, layer.counts, strict=True)
            if n
        }
    )


async def _series(app: Any, period: Period) -> Any:
    async with app.state.runtime.sessions() as session:
        return await compliance_series(session, period, now=NOW)


async def test_every_series_matches_the_rows_that_made_it(app: Any) -> None:
    await insert_events(app, EVENTS)
    await insert_requests(app, await insert_customer(app))
    await insert_complaints(app)
    breach_ids = await insert_breaches(app)
    period = last_days(NOW, ZONE)
    assert (period.first, period.last, period.step) == (
        date(2026, 11, 1),
        date(2026, 11, 30),
        Step.DAY,
    )

    series = await _series(app, period)

    by_role, by_purpose = series.accesses_by_role, series.accesses_by_purpose
    assert by_role.buckets == tuple(date(2026, 11, d) for d in range(1, 31))
    assert _cells(by_role) == _recount(EVENTS, period, "allowed", "role")
    assert _cells(by_purpose) == _recount(EVENTS, period, "allowed", "purpose")
    assert _cells(series.denials_by_reason) == _recount(EVENTS, period, "denied", "reason")
    # The same rows, by name: the day's edges fall in the shop's time zone.
    assert _cells(by_role) == {
        (date(2026, 11, 1), "storefront"): 1,
        (date(2026, 11, 1), "employee"): 1,
        (date(2026, 11, 2), "employee"): 1,
        (date(2026, 11, 15), "partner"): 3,
        (date(2026, 11, 30), "dpo"): 1,
    }
    assert [layer.key for layer in by_purpose.layers] == [
        "order_confirmation",
        "order_fulfillment",
        "registration",
        None,
    ]
    assert by_role.totals[0] == 2
    assert by_role.totals[14] == 3
    assert sum(by_role.totals) == 7
    assert [(layer.key, layer.total) for layer in series.denials_by_reason.layers] == [
        ("consent_missing", 2),
        ("role_not_permitted", 1),
        (None, 1),
    ]

    # The series split the report's own figures: the totals agree with it.
    report = series.report
    assert (report.since, report.until, report.as_of) == (period.since, period.until, NOW)
    per_role: Counter[str | None] = Counter()
    for a in report.accesses:
        per_role[a.role] += a.count
    assert {layer.key: layer.total for layer in by_role.layers} == dict(per_role)
    assert {layer.key: layer.total for layer in series.denials_by_reason.layers} == {
        d.reason: d.count for d in report.denials
    }

    assert series.deadlines == {
        Deadline.DELETION: Timeliness(received=3, on_time=1, late=2, overdue=1),
        Deadline.ACCESS: Timeliness(received=5, on_time=2, late=1, overdue=1),
        Deadline.COMPLAINT: Timeliness(received=2, on_time=1, late=1, overdue=1),
        Deadline.BREACH: Timeliness(received=4, on_time=1, late=1, overdue=1),
    }
    d, c = report.deletion_requests, report.complaints
    assert (d.on_time, d.late, d.overdue) == (1, 2, 1)
    assert (c.answered_on_time, c.answered_late, c.overdue) == (1, 1, 1)

    assert [
        (b.id, b.deadline_hours, b.delay_hours, b.notified, b.state) for b in series.breaches
    ] == [
        (breach_ids[0], 72.0, 50.0, True, "on_time"),
        (breach_ids[1], 72.0, 100.0, True, "late"),
        (breach_ids[2], 72.0, 130.0, False, "overdue"),
        (breach_ids[3], 72.0, 4.0, False, "pending"),
    ]
    assert report.breaches.detected == len(series.breaches)


async def test_a_past_period_reads_as_it_did_then(app: Any) -> None:
    """Judged at the period's end: a notice sent after it does not count, the delay runs to
    the end; a request answered after it was overdue then."""
    await insert_requests(app, await insert_customer(app))
    breach_ids = await insert_breaches(app)
    october = Period(date(2026, 10, 1), date(2026, 10, 31), ZONE)
    series = await _series(app, october)
    assert series.report.as_of == october.until == utc(10, 31, 17)
    # Detected 30 Oct 00:00 UTC, notified 48 h later (1 Nov): not yet at the period's end.
    (breach,) = series.breaches
    assert (breach.id, breach.notified, breach.delay_hours, breach.state) == (
        breach_ids[4],
        False,
        41.0,
        "pending",
    )
    assert series.deadlines[Deadline.ACCESS] == Timeliness(received=1, on_time=0, late=1, overdue=0)
    assert series.deadlines[Deadline.DELETION] == Timeliness(
        received=1, on_time=0, late=0, overdue=1
    )
    assert series.accesses_by_role.layers == ()
    assert series.accesses_by_role.totals == (0,) * 31


async def test_a_long_period_is_drawn_by_week(app: Any) -> None:
    events = [
        Event(utc(9, 1, 5), "allowed", "employee", "marketing"),  # Tue 1 Sep: the first bar
        Event(utc(9, 6, 16, 59), "allowed", "employee", "marketing"),  # Sun 6 Sep 23:59 local
        Event(utc(9, 6, 17), "allowed", "employee", "marketing"),  # Mon 7 Sep 00:00 local
        Event(utc(11, 30, 9), "allowed", "employee", "marketing"),
    ]
    await insert_events(app, events)
    autumn = Period(date(2026, 9, 1), date(2026, 11, 30), ZONE)
    assert autumn.step is Step.WEEK
    series = await _series(app, autumn)
    stacked = series.accesses_by_purpose
    assert stacked.buckets[:3] == (date(2026, 9, 1), date(2026, 9, 7), date(2026, 9, 14))
    assert _cells(stacked) == _recount(events, autumn, "allowed", "purpose")
    assert _cells(stacked) == {
        (date(2026, 9, 1), "marketing"): 2,
        (date(2026, 9, 7), "marketing"): 1,
        (date(2026, 11, 30), "marketing"): 1,
    }


async def test_the_downloads_hold_the_report_and_every_series(app: Any) -> None:
    await insert_events(app, EVENTS)
    breach_ids = await insert_breaches(app)
    series = await _series(app, last_days(NOW, ZONE))

    body = json.loads(json.dumps(series_json(series)))
    assert body["period"] == {
        "first": "2026-11-01",
        "last": "2026-11-30",
        "time_zone": "Asia/Ho_Chi_Minh",
        "step": "day",
    }
    assert body["report"] == series.report.model_dump(mode="json")
    assert body["accesses_by_role"]["buckets"][0] == "2026-11-01"
    assert {"key": "partner", "counts": [0] * 14 + [3] + [0] * 15} in body["accesses_by_role"][
        "layers"
    ]
    assert body["deadlines"]["breach_notices"] == {
        "received": 4,
        "on_time": 1,
        "late": 1,
        "overdue": 1,
    }
    assert body["breaches"][1]["id"] == str(breach_ids[1])

    text = series_csv(series)
    assert text.startswith(report_csv(series.report))
    rows = list(csv.reader(io.StringIO(text)))
    table = {(s, k): v for s, k, v in rows[1:]}
    assert table[("period", "time_zone")] == "Asia/Ho_Chi_Minh"
    assert table[("accesses_by_role", "2026-11-15/partner")] == "3"
    assert table[("accesses_by_purpose", "2026-11-30/-")] == "1"
    assert table[("denials_by_reason", "2026-11-03/consent_missing")] == "2"
    assert table[("deadlines", "breach_notices.overdue")] == "1"
    assert table[("breaches", f"{breach_ids[2]}.delay_hours")] == "130.0"
    assert table[("breaches", f"{breach_ids[0]}.state")] == "on_time"


def test_a_period_is_whole_shop_days() -> None:
    p = Period(date(2026, 11, 1), date(2026, 11, 30), ZONE)
    assert (p.since, p.until, p.days) == (utc(10, 31, 17), utc(11, 30, 17), 30)
    # Just after midnight in the shop it is already the next day there.
    assert last_days(utc(11, 30, 17, 5), ZONE).last == date(2026, 12, 1)
    assert last_days(NOW, ZONE, days=7).first == date(2026, 11, 24)
    assert Period(date(2026, 1, 1), date(2026, 12, 31), ZONE).step is Step.WEEK
    year = Period(date(2025, 1, 1), date(2026, 12, 31), ZONE)
    assert year.step is Step.MONTH
    assert year.buckets[:2] == (date(2025, 1, 1), date(2025, 2, 1))
    assert len(year.buckets) == 24
    assert year.bucket_of(date(2025, 2, 17)) == date(2025, 2, 1)
    with pytest.raises(PeriodError, match="ends before"):
        Period(date(2026, 11, 2), date(2026, 11, 1), ZONE)
    with pytest.raises(PeriodError, match="at most"):
        Period(date(2024, 1, 1), date(2026, 11, 1), ZONE)
