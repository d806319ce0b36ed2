"""The DPO's desk, breaches and notices, in a real browser (issue 19.1), on the console
journeys' fixtures (tests/e2e/test_console_browser.py): with 1,000 customers in the vault a
DPO records a breach for all of them, records the authority notification, sends the subject
notices and watches the progress bar reach 1,000 of 1,000 (the server fans out 100 a batch,
``PDVAULT_BREACH_FANOUT_BATCH``); the outbox then lists them. Every page of the desk is saved
at 1280 and 390 px wide (``breach*-*.png``, ``outbox*-*.png``)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from pdvault.crypto.keyring import Keyring
from pdvault.customers.models import Customer
from pdvault.db import new_id, utcnow
from tests.conftest import truncate_all
from tests.e2e.test_console_browser import (  # noqa: F401 - the journeys' fixtures
    PAGE_ERRORS,
    World,
    _populate,
    _start_server,
    browser,
    follow,
    page,
    shoot,
    sign_in,
)

pytestmark = pytest.mark.e2e

CUSTOMERS = 1_000
BATCH = 100
SHOP = ZoneInfo("Asia/Ho_Chi_Minh")


async def _bulk_customers(database_url: str, count: int) -> None:
    """Customers straight into the table, as tests/governance/test_breach_fanout_scale.py
    makes them: ids and times only (the schema allows a customer without keys)."""
    engine = create_async_engine(database_url)
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "created_at": now,
            "updated_at": now,
            "version": 1,
            "policy_version": "2024-01",
        }
        for _ in range(count)
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(Customer), rows)
    await engine.dispose()


@pytest.fixture(scope="module")
def world(
    database_url: str, keyring: Keyring, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The journeys' world, its server fanning out in batches of ``BATCH``."""
    asyncio.run(truncate_all(database_url))
    data_dir = tmp_path_factory.mktemp("breachdesk-e2e")
    before = os.environ.get("PDVAULT_BREACH_FANOUT_BATCH")
    os.environ["PDVAULT_BREACH_FANOUT_BATCH"] = str(BATCH)
    try:
        base, process, _log = _start_server(database_url, keyring, data_dir)
    finally:
        if before is None:
            os.environ.pop("PDVAULT_BREACH_FANOUT_BATCH", None)
        else:
            os.environ["PDVAULT_BREACH_FANOUT_BATCH"] = before
    engine = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    chosen = os.environ.get("CONSOLE_SCREENSHOTS_DIR")
    shots = Path(chosen) if chosen and engine == "sqlite" else data_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        tokens, customers, complaint = _populate(base, database_url)
        asyncio.run(_bulk_customers(database_url, CUSTOMERS - len(customers)))
        yield World(base, tokens, customers, complaint, shots)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _shop_input(moment: datetime) -> str:
    return moment.astimezone(SHOP).strftime("%Y-%m-%dT%H:%M")


def test_a_dpo_records_a_breach_notifies_and_watches_1000_notices_go_out(
    page: Any,  # noqa: F811
    world: World,
) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    sign_in(page, world.tokens["dpo"])
    follow(page, "nav.rooms >> text=Sự cố")
    assert page.locator("h1").inner_text() == "Sự cố"
    assert "Chưa ghi nhận sự cố nào." in page.locator("main").inner_text()
    shoot(page, world, "breaches-empty")

    # The form sent empty: a message beside each field, nothing recorded.
    follow(page, "text=Ghi nhận sự cố")
    follow(page, "form.breach-form button[type=submit]")
    for field in ("detected_at", "summary", "categories", "scope"):
        assert page.locator(f"#{field}-error").is_visible(), field
    shoot(page, world, "breach-new-errors")
    PAGE_ERRORS[id(page)].clear()  # the 422 of the refused form, reported: expected

    detected = datetime.now(UTC) - timedelta(hours=3)
    page.fill("#detected_at", _shop_input(detected))
    page.fill("#summary", "Máy chủ sao lưu bị truy cập trái phép; đã thu hồi khoá truy cập.")
    page.check("#category_full_name")
    page.check("#category_email")
    page.check("#scope_all")
    follow(page, "form.breach-form button[type=submit]")
    assert "/console/breaches/" in page.url
    assert "Đã ghi nhận sự cố" in page.locator(".done").inner_text()
    facts = page.locator("main").inner_text()
    assert "Tất cả khách hàng: 1.000 lúc ghi nhận" in facts
    deadline = page.locator(".deadline").inner_text()
    assert deadline.startswith("còn 2 ngày 2"), deadline  # 72 h less 3 h: 2 d 21 h or 20 h
    shoot(page, world, "breach")

    page.fill("#authority_name", "Cục An ninh mạng và phòng, chống tội phạm công nghệ cao")
    page.fill("#reference", "A05-2026-0142")
    follow(page, "form.authority-form button[type=submit]")
    assert "Đã ghi nhận việc thông báo" in page.locator(".done").inner_text()
    assert page.locator(".deadline").inner_text() == "đã thông báo đúng hạn"
    assert page.locator(".authority-form").count() == 0

    page.on("dialog", lambda dialog: dialog.accept())  # console.js asks to confirm
    follow(page, "section.notices button[type=submit]")
    bar = page.locator("progress#fanout")
    seen = [bar.get_attribute("value")]
    # The page refreshes itself (its Refresh header) while the batches run; the bar ends full.
    expect(bar).to_have_attribute("value", str(CUSTOMERS), timeout=60_000)
    seen.append(bar.get_attribute("value"))
    assert bar.get_attribute("max") == str(CUSTOMERS)
    numbers = page.locator(".progress-numbers").inner_text()
    assert "1.000 trên 1.000 đã vào hộp thư đi" in numbers, numbers
    assert "1.000 đang chờ giao" in numbers
    expect(page.locator("section.notices .ok")).to_be_visible(timeout=10_000)
    shoot(page, world, "breach-notices")

    # The storefront delivers three; the outbox shows them.
    shop = {"Authorization": f"Bearer {world.tokens['storefront']}"}
    with httpx.Client(base_url=world.base, timeout=10) as api:
        pending = api.get("/v1/notifications", params={"limit": 3}, headers=shop).json()
        for notice in pending["items"]:
            assert api.post(f"/v1/notifications/{notice['id']}/ack", headers=shop).is_success

    follow(page, "text=Xem các thông báo này trong hộp thư đi")
    assert page.locator("h1").inner_text().startswith("Hộp thư đi")
    assert page.locator("table.outbox tbody tr").count() == 50
    assert page.locator("a[rel=next]").count() == 1
    assert all(c not in page.content() for c in world.customers.values())
    shoot(page, world, "outbox")
    page.select_option("#state", "delivered")
    follow(page, "form.card button[type=submit]")
    assert "state=delivered" in page.url
    assert page.locator("table.outbox tbody tr").count() == 3
    assert set(page.locator("table.outbox .tag").all_inner_texts()) == {"đã giao"}
    shoot(page, world, "outbox-delivered")

    follow(page, "nav.rooms >> text=Sự cố")
    row = page.locator("table.stack tbody tr")
    assert row.count() == 1
    assert "đã thông báo đúng hạn" in row.inner_text()
    shoot(page, world, "breaches")

    with page.expect_navigation():
        row.locator("a").first.click()
    follow(page, "button:has-text('English')")
    assert page.locator("h1").inner_text().startswith("Breach detected")
    assert "1,000 of 1,000 queued in the outbox" in page.locator(".progress-numbers").inner_text()
    shoot(page, world, "breach-en")
    print("progress seen:", seen)
