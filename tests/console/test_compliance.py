"""The DPO's compliance room (issue 18.5) through the ASGI client: the report of a period as
tables and charts in either language, its CSV and JSON, who may open it (the policy decides),
bad periods refused with nothing logged, and the page's safety headers."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from pdvault.audit.models import AccessEvent
from pdvault.governance.report_series import Period, compliance_series, series_csv, series_json
from tests.conftest import TokenFactory
from tests.console.conftest import SignIn
from tests.console.test_safety import assert_strict_headers
from tests.report_history import NOW, ZONE, Event, insert_events, insert_history, utc

PAGE = "/console/compliance"
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def at_now(app: Any, monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The console's wall clock stands at NOW (17:00 on 30 November in the shop)."""
    monkeypatch.setattr(app.state.console.sessions, "now", lambda: NOW)
    return NOW


async def _report_events(app: Any) -> list[AccessEvent]:
    async with app.state.runtime.sessions() as session:
        rows = await session.scalars(
            select(AccessEvent)
            .where(AccessEvent.action == "report.compliance")
            .order_by(AccessEvent.seq)
        )
        return list(rows)


async def _expected(app: Any, period: Period) -> Any:
    async with app.state.runtime.sessions() as session:
        return await compliance_series(session, period, NOW)


def _svgs(html: str) -> list[ET.Element]:
    return [
        ET.fromstring(m)  # noqa: S314 - the app's own output, under test
        for m in re.findall(r"<svg .*?</svg>", html, flags=re.S)
    ]


def _cells(html: str, table_caption: str) -> list[list[str]]:
    """The body rows of the table with this caption, as text."""
    found = re.search(
        rf"<caption>{re.escape(table_caption)}</caption>.*?<tbody>(.*?)</tbody>", html, re.S
    )
    assert found, f"no table {table_caption!r}"
    rows = re.findall(r"<tr>(.*?)</tr>", found.group(1), re.S)
    return [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S) for row in rows]


async def test_a_dpo_reads_the_period_as_tables_and_charts(
    app: Any,
    client: httpx.AsyncClient,
    issue: TokenFactory,
    console_sign_in: SignIn,
    at_now: datetime,
) -> None:
    await insert_history(app)
    dpo = await issue("dpo", "room-dpo")
    await console_sign_in(dpo.token, "en")

    r = await client.get(PAGE, params=NOVEMBER)
    assert r.status_code == 200, r.text
    assert_strict_headers(r)
    html = r.text
    assert 'value="2026-11-01"' in html
    assert 'value="2026-11-30"' in html
    assert "Asia/Ho_Chi_Minh" in html
    assert "<style" not in html
    assert " style=" not in html
    assert "<script>" not in html

    # Five charts, each a well-formed SVG named by its title and description.
    charts = _svgs(html)
    titles = [c.findtext("{http://www.w3.org/2000/svg}title") for c in charts]
    assert titles == [
        "Accesses by role",
        "Accesses by purpose",
        "Denials by reason",
        "Deadlines: on time, late, overdue",
        "Breaches: hours to the authority's notice",
    ]
    for chart in charts:
        assert chart.get("role") == "img"
        ids = chart.get("aria-labelledby", "").split()
        assert {e.get("id") for e in chart.iter() if e.get("id")} == set(ids)

    # The tables hold the same figures as the series computed directly.
    series = await _expected(app, Period(utc(11, 1).date(), utc(11, 30).date(), ZONE))
    by_role = _cells(html, "Accesses by role")
    assert len(by_role) == 30
    assert by_role[0][0] == "11/1"
    assert by_role[14] == ["11/15", "0", "0", "3", "0", "3"]  # dpo, employee, partner, storefront
    assert sum(int(row[-1]) for row in by_role) == 7
    deadlines = _cells(html, "Deadlines: on time, late, overdue")
    assert deadlines == [
        ["Deletion requests", "1", "2", "1", "3"],
        ["Access requests", "2", "1", "1", "5"],
        ["Complaints", "1", "1", "1", "2"],
        ["Breach notices to the authority", "1", "1", "1", "4"],
    ]
    assert [(k.value, t.on_time, t.late, t.overdue) for k, t in series.deadlines.items()] == [
        (row_kind, int(a), int(b), int(c))
        for row_kind, (_, a, b, c, _) in zip(
            ["deletion_requests", "access_requests", "complaints", "breach_notices"],
            deadlines,
            strict=True,
        )
    ]
    denials = _cells(html, "Denials by reason")
    assert denials == [
        ["No marketing consent", "2", "consent_missing"],
        ["Role not permitted", "1", "role_not_permitted"],
        ["(no reason)", "1", "-"],
    ]
    breaches = _cells(html, "Breaches: hours to the authority&#39;s notice")
    assert [row[1:4] for row in breaches] == [
        ["50", "72", "on time"],
        ["100", "72", "late"],
        ["130", "72", "overdue"],
        ["4", "72", "pending"],
    ]
    assert len(breaches) == len(series.breaches)
    figures = dict(map(tuple, _cells(html, "Breaches detected in the period")))
    assert figures["Detected"] == "4"
    assert figures["Customers affected"] == "4"
    assert "7 allowed accesses in the period." in html

    # One access event, as the API's report writes, from the console.
    (event,) = await _report_events(app)
    assert (event.role, event.outcome, event.customer_id) == ("dpo", "allowed", None)
    assert event.request_id.startswith("console:")


async def test_vietnamese_by_default_with_its_own_numbers_and_days(
    app: Any,
    client: httpx.AsyncClient,
    issue: TokenFactory,
    console_sign_in: SignIn,
    at_now: datetime,
) -> None:
    # 1,234 accesses on one day: the thousands separator is the language's.
    await insert_events(app, [Event(utc(11, 10, 3), "allowed", "employee", "marketing")] * 1234)
    dpo = await issue("dpo", "room-dpo")
    await console_sign_in(dpo.token)
    r = await client.get(PAGE)  # no dates: the last 30 days, today included
    assert r.status_code == 200, r.text
    html = r.text
    assert '<html lang="vi">' in html
    assert "Báo cáo tuân thủ" in html
    assert "Lượt truy cập theo vai trò" in html
    assert "1.234 lượt truy cập được cho phép trong kỳ." in html
    assert 'value="2026-11-01"' in html
    assert 'value="2026-11-30"' in html
    rows = _cells(html, "Lượt truy cập theo vai trò")
    assert rows[9] == ["10/11", "1.234"]
    assert "Tiếp thị" in html  # the purpose, by its Vietnamese name


async def test_a_long_period_is_drawn_by_week(
    app: Any,
    client: httpx.AsyncClient,
    issue: TokenFactory,
    console_sign_in: SignIn,
    at_now: datetime,
) -> None:
    await insert_events(app, [Event(utc(9, 6, 17), "allowed", "employee", "marketing")])
    await console_sign_in((await issue("auditor")).token, "en")
    r = await client.get(PAGE, params={"from": "2026-09-01", "to": "2026-11-30"})
    assert r.status_code == 200, r.text
    rows = _cells(r.text, "Accesses by purpose")
    assert rows[0][0] == "9/1\u2009\u2013\u20099/6"  # as CLDR writes a span in English
    assert rows[1] == ["9/7\u2009\u2013\u20099/13", "1"]
    assert rows[-1][0].startswith("11/30")


async def test_the_downloads_hold_what_the_page_shows(
    app: Any,
    client: httpx.AsyncClient,
    issue: TokenFactory,
    console_sign_in: SignIn,
    at_now: datetime,
) -> None:
    await insert_history(app)
    await console_sign_in((await issue("dpo")).token)
    expected = await _expected(app, Period(utc(11, 1).date(), utc(11, 30).date(), ZONE))

    r = await client.get(f"{PAGE}.csv", params=NOVEMBER)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == (
        'attachment; filename="compliance-2026-11-01-2026-11-30.csv"'
    )
    assert r.headers["cache-control"] == "no-store"
    assert r.text == series_csv(expected)  # generated at the console's (injected) now

    r = await client.get(f"{PAGE}.json", params=NOVEMBER)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["content-disposition"].endswith('compliance-2026-11-01-2026-11-30.json"')
    assert r.json() == json.loads(json.dumps(series_json(expected)))

    # The page links to both, for the period it shows.
    page = await client.get(PAGE, params=NOVEMBER)
    assert 'href="/console/compliance.csv?from=2026-11-01&amp;to=2026-11-30"' in page.text
    assert 'href="/console/compliance.json?from=2026-11-01&amp;to=2026-11-30"' in page.text
    assert len(await _report_events(app)) == 3


@pytest.mark.parametrize("role", ["employee", "legal", "admin"])
async def test_roles_the_policy_does_not_give_the_report_are_refused_and_logged(
    app: Any,
    client: httpx.AsyncClient,
    issue: TokenFactory,
    console_sign_in: SignIn,
    role: str,
) -> None:
    await console_sign_in((await issue(role)).token)
    for path in (PAGE, f"{PAGE}.csv", f"{PAGE}.json"):
        r = await client.get(path, params={"from": "not-a-date"})  # the role first
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("text/html")  # the console's refusal page
        assert "<code>role_not_permitted</code>" in r.text
        assert "<svg" not in r.text
    events = await _report_events(app)
    assert [(e.role, e.outcome, e.reason) for e in events] == [
        (role, "denied", "role_not_permitted")
    ] * 3
    start = await client.get("/console/")
    assert 'href="/console/compliance"' not in start.text


async def test_the_dpo_and_the_auditor_find_the_room_in_their_navigation(
    client: httpx.AsyncClient, issue: TokenFactory, console_sign_in: SignIn
) -> None:
    for role in ("dpo", "auditor"):
        await console_sign_in((await issue(role)).token)
        start = await client.get("/console/")
        assert 'href="/console/compliance"' in start.text
        assert "Báo cáo tuân thủ" in start.text


async def test_without_a_session_the_room_sends_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in (PAGE, f"{PAGE}.csv", f"{PAGE}.json"):
        r = await client.get(path)
        assert r.status_code == 303
        assert r.headers["location"] == "/console/sign-in"


BAD = [
    ({"from": "2026-13-01"}, "from", "A date is written YYYY-MM-DD"),
    ({"from": "yesterday", "to": "2026-11-30"}, "from", "A date is written YYYY-MM-DD"),
    ({"from": "2026-11-30", "to": "2026-11-01"}, "to", "must end on or after"),
    ({"from": "2024-01-01", "to": "2026-11-30"}, "to", "at most 731 days"),
]


@pytest.mark.parametrize(("params", "field", "message"), BAD)
async def test_a_bad_period_is_refused_clearly_and_logs_nothing(
    app: Any,
    client: httpx.AsyncClient,
    issue: TokenFactory,
    console_sign_in: SignIn,
    at_now: datetime,
    params: dict[str, str],
    field: str,
    message: str,
) -> None:
    await console_sign_in((await issue("dpo")).token, "en")
    # The page, and a download asked for with the same dates, answer the form saying why.
    for path in (PAGE, f"{PAGE}.csv", f"{PAGE}.json"):
        r = await client.get(path, params=params)
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("text/html")
        assert "content-disposition" not in r.headers
        assert message in r.text
        assert f'id="{field}" name="{field}"' in r.text
        assert 'aria-invalid="true"' in r.text
        assert "<svg" not in r.text
    assert await _report_events(app) == []
    r = await client.get(PAGE, params={"from": "2" * 11})
    assert r.status_code == 422


async def test_a_code_from_the_log_is_shown_escaped(
    app: Any,
    client: httpx.AsyncClient,
    issue: TokenFactory,
    console_sign_in: SignIn,
    at_now: datetime,
) -> None:
    """Codes without a label are shown as they are: escaped, in the charts and the tables."""
    await insert_events(app, [Event(utc(11, 3), "denied", HOSTILE, HOSTILE, HOSTILE)])
    await insert_events(app, [Event(utc(11, 4), "allowed", HOSTILE, HOSTILE)])
    await console_sign_in((await issue("dpo")).token)
    r = await client.get(PAGE)
    assert r.status_code == 200, r.text
    assert HOSTILE not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert len(_svgs(r.text)) == 4  # no breach: no breach chart
