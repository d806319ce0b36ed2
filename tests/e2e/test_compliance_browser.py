"""The DPO's compliance room in a real browser (issue 18.5/18.6), in the style and on the
fixtures of the console's journeys (tests/e2e/test_console_browser.py): a DPO opens the
report for a period, reads its charts and tables, downloads the CSV; screenshots at 1280 and
390 px wide (``compliance-*.png``)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.e2e.test_console_browser import (  # noqa: F401 - the journeys' fixtures
    World,
    browser,
    follow,
    page,
    shoot,
    sign_in,
    world,
)

pytestmark = pytest.mark.e2e


def _a_breach(world: World) -> None:  # noqa: F811 - the fixture's value
    """One breach, detected two days ago and not yet notified (the breach chart's bar)."""
    detected = datetime.now(UTC) - timedelta(days=2)
    with httpx.Client(base_url=world.base, timeout=10) as api:
        r = api.post(
            "/v1/breaches",
            json={
                "detected_at": detected.isoformat(),
                "summary": "Sự cố mẫu",
                "data_categories": ["email"],
                "all_customers": True,
            },
            headers={"Authorization": f"Bearer {world.tokens['dpo']}"},
        )
        assert r.status_code == 201, r.text


def test_a_dpo_opens_the_report_for_a_period_and_downloads_csv(
    page: Any,  # noqa: F811
    world: World,  # noqa: F811
) -> None:
    _a_breach(world)
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    first = today - timedelta(days=13)
    sign_in(page, world.tokens["dpo"])
    follow(page, "nav.rooms >> text=Báo cáo tuân thủ")
    assert page.locator("h1").inner_text() == "Báo cáo tuân thủ"

    page.fill("#from", first.isoformat())
    page.fill("#to", today.isoformat())
    follow(page, "form.period button[type=submit]")
    assert f"from={first.isoformat()}" in page.url
    assert f"to={today.isoformat()}" in page.url
    charts = page.locator("svg.chart")
    assert charts.count() == 5
    for i in range(charts.count()):
        assert charts.nth(i).get_attribute("role") == "img"
    # Fourteen shop days, one row each, in the table under the chart.
    page.click("#accesses-by-role summary")
    rows = page.locator("#accesses-by-role tbody tr")
    assert rows.count() == 14
    assert "Sự cố" in page.locator("#breaches").inner_text()
    shoot(page, world, "compliance")

    with page.expect_download() as download:
        page.click("text=Tải về CSV")
    assert download.value.suggested_filename == (
        f"compliance-{first.isoformat()}-{today.isoformat()}.csv"
    )
    table = list(csv.reader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
    assert table[0] == ["section", "key", "value"]
    cells = {(s, k): v for s, k, v in table[1:]}
    assert cells[("period", "first")] == first.isoformat()
    assert cells[("deadlines", "breach_notices.received")] == "1"
    assert int(cells[("breaches", "detected")]) == 1

    # The same room in English, on a phone.
    follow(page, "button:has-text('English')")
    assert page.locator("h1").inner_text() == "Compliance report"
    shoot(page, world, "compliance-en")
