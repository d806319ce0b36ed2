"""The legal officer's desk in a real browser (issue 19.2), on the console journeys' fixtures
(tests/e2e/test_console_browser.py): two legal officers and a data-protection officer signed
in at once, each in a browser context of their own. Legal officer A records a request and
waits for a second approver; legal officer B sees the same wait (a legal officer never
decides: the API gives the decision to a dpo who did not record it); the dpo approves; B
opens the disclosure; a request that expires under A's open page refuses. Screenshots at
1280 and 390 px wide (``legaldesk-*.png``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from pdvault.judicial.models import JudicialRequest
from pdvault.policy import Role
from tests.e2e.test_console_browser import (  # noqa: F401 - the journeys' fixtures
    PAGE_ERRORS,
    WIDTHS,
    World,
    _token,
    browser,
    follow,
    page,
    shoot,
    sign_in,
    world,
)

pytestmark = pytest.mark.e2e

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def legal_tokens(world: World, database_url: str) -> dict[str, str]:  # noqa: F811
    # In a thread: _token runs its own event loop, and Playwright's may be running here.
    with ThreadPoolExecutor(1) as pool:
        return {
            name: pool.submit(_token, database_url, f"e2e-legal-{name}", Role.LEGAL).result()
            for name in ("a", "b")
        }


@pytest.fixture
def other_page(browser: Any, world: World) -> Iterator[Any]:  # noqa: F811
    """A second browser context: another person signed in at the same time."""
    context = browser.new_context(base_url=world.base, viewport={"width": WIDTHS[0], "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    context.close()
    assert not errors, errors


def _file_through_api(world: World, token: str) -> str:  # noqa: F811
    valid_until = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    body = {
        "authority_type": "procuracy",
        "authority_name": "Viện kiểm sát nhân dân Mẫu",
        "document_number": "77/VKS-MAU",
        "document_date": "2026-11-20",
        "legal_basis": "Điều mẫu (ví dụ)",
        "case_reference": "VA-MAU-0077",
        "customer_ids": [world.customers["plain"]],
        "fields": ["phone"],
        "valid_until": valid_until,
    }
    r = httpx.post(
        f"{world.base}/v1/judicial-requests",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _expire(database_url: str, request_id: str) -> None:
    """Move the request's expiry an hour into the past, directly in the database (outside
    Playwright's own event loop)."""

    async def move() -> None:
        engine = create_async_engine(database_url)
        async with engine.begin() as conn:
            await conn.execute(
                update(JudicialRequest)
                .where(JudicialRequest.id == uuid.UUID(request_id))
                .values(valid_until=datetime.now(UTC) - timedelta(hours=1))
            )
        await engine.dispose()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, move()).result()


def test_two_legal_officers_and_a_dpo_through_a_request(
    page: Any,  # noqa: F811
    other_page: Any,
    browser: Any,  # noqa: F811
    world: World,  # noqa: F811
    legal_tokens: dict[str, str],
    database_url: str,
) -> None:
    a, b = page, other_page
    sign_in(a, legal_tokens["a"])
    sign_in(b, legal_tokens["b"])

    # A: the list, the empty form, the form refused field by field, then recorded.
    follow(a, "nav.rooms >> text=Yêu cầu tư pháp")
    assert a.locator("h1").inner_text() == "Yêu cầu tư pháp"
    shoot(a, world, "legaldesk-list-empty")
    follow(a, "text=Ghi nhận một yêu cầu")
    shoot(a, world, "legaldesk-new")
    a.fill("#authority_name", "Toà án nhân dân Mẫu")
    follow(a, "form.legal-form button[type=submit]")
    assert a.locator("#authority_type-error").inner_text() == (
        "Không thuộc các giá trị trong danh sách."
    )
    assert a.locator("#customer_ids-error").is_visible()
    assert a.locator("#fields-error").inner_text() == "Chọn ít nhất một trường."
    assert a.locator("#authority_name").input_value() == "Toà án nhân dân Mẫu"  # kept
    shoot(a, world, "legaldesk-new-errors")
    PAGE_ERRORS[id(a)].clear()  # the form's 422, reported by the browser: expected

    shop_today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    a.select_option("#authority_type", "court")
    a.fill("#document_number", "123/2026/QĐ-MAU")
    a.fill("#document_date", "2026-11-01")
    a.fill("#case_reference", "VA-2026-0001")
    a.fill("#legal_basis", "Điều mẫu, Bộ luật Tố tụng dân sự (ví dụ)")
    a.fill("#customer_ids", f"{world.customers['script']}\n{world.customers['plain']}")
    a.check("input[name=field_full_name]")
    a.check("input[name=field_email]")
    a.fill("#valid_until", (shop_today + timedelta(days=10)).isoformat())
    follow(a, "form.legal-form button[type=submit]")
    assert "done=filed" in a.url
    request_id = a.url.split("/judicial-requests/")[1].split("?")[0]
    assert "Đã ghi nhận yêu cầu" in a.locator(".done").inner_text()
    assert "Đang chờ người phê duyệt thứ hai." in a.locator(".state").inner_text()
    assert "Bạn là người ghi nhận" in a.locator(".state").inner_text()
    assert a.locator("form[action$='/approve']").count() == 0
    assert a.locator("form[action$='/disclosure']").count() == 0
    shoot(a, world, "legaldesk-request-waiting")

    # B, signed in at the same time: the same wait, no decision for a legal officer.
    follow(b, "nav.rooms >> text=Yêu cầu tư pháp")
    follow(b, f"a[href$='{request_id}']")
    assert "Đang chờ người phê duyệt thứ hai." in b.locator(".state").inner_text()
    assert b.locator("form[action$='/approve']").count() == 0
    shoot(b, world, "legaldesk-request-other-legal")

    # The dpo, in a third context: approve and reject offered; approves.
    context = browser.new_context(base_url=world.base, viewport={"width": WIDTHS[0], "height": 900})
    d = context.new_page()
    try:
        sign_in(d, world.tokens["dpo"])
        d.goto(f"/console/judicial-requests/{request_id}")
        assert d.locator("form[action$='/reject'] textarea#reason").count() == 1
        shoot(d, world, "legaldesk-request-decide")
        follow(d, "form[action$='/approve'] button")
        assert "Đã phê duyệt yêu cầu" in d.locator(".done").inner_text()
        assert d.locator("form[action$='/approve']").count() == 0
        shoot(d, world, "legaldesk-request-approved")

        # Another request, recorded by A through the API: the dpo rejects it, with a reason.
        other = _file_through_api(world, legal_tokens["a"])
        d.goto(f"/console/judicial-requests/{other}")
        follow(d, "form[action$='/reject'] button")
        assert d.locator("#reason-error").inner_text() == "Nhập lý do bác bỏ."
        d.fill("#reason", "Văn bản thiếu chữ ký <b>người có thẩm quyền</b>")
        follow(d, "form[action$='/reject'] button")
        assert "Đã bác bỏ yêu cầu." in d.locator(".done").inner_text()
        assert "<b>người có thẩm quyền</b>" in d.locator("table.history").inner_text()
        shoot(d, world, "legaldesk-request-rejected")
    finally:
        context.close()

    # B opens the disclosure: the values on the POST's answer, none in the URL.
    b.reload()
    assert "Đã phê duyệt" in b.locator(".state").inner_text()
    shoot(b, world, "legaldesk-request-open")
    follow(b, "form[action$='/disclosure'] button[type=submit]")
    assert b.url.endswith(f"/judicial-requests/{request_id}/disclosure")
    cards = b.locator("section.disclosed")
    assert cards.count() == 2
    text = b.locator("main").inner_text()
    assert SCRIPT in text  # shown as text, never run
    assert "Trần Thị Mẫu" in text
    assert "@example.com" in text
    assert "Số điện thoại" not in b.locator("section.disclosed dl").first.inner_text()
    shoot(b, world, "legaldesk-disclosure")

    # A's page was drawn while the request was valid; it expires before A opens it.
    a.reload()
    assert a.locator("form[action$='/disclosure']").count() == 1
    _expire(database_url, request_id)
    follow(a, "form[action$='/disclosure'] button[type=submit]")
    assert "Yêu cầu đã hết hạn" in a.locator(".refusal").inner_text()
    assert a.locator("section.disclosed").count() == 0
    assert a.locator("form[action$='/disclosure']").count() == 0
    shoot(a, world, "legaldesk-disclosure-expired")
    PAGE_ERRORS[id(a)].clear()  # the refusal's 403, reported by the browser: expected

    follow(a, "nav.rooms >> text=Yêu cầu tư pháp")
    assert "hết hạn" in a.locator("tbody").inner_text()
    shoot(a, world, "legaldesk-list")
    follow(a, "button:has-text('English')")
    assert a.locator("h1").inner_text() == "Judicial requests"
    shoot(a, world, "legaldesk-list-en")
