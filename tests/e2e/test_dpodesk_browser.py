"""The DPO's desk in a real browser (issue 19.1), on the console journeys' fixtures
(tests/e2e/test_console_browser.py): a DPO opens what is due (an overdue deletion request
marked first), approves it and sees the erasure (the customer then reads as erased: 410),
rejects an access request, and moves a complaint to investigating, then upheld. Every page
of the desk is saved at 1280 and 390 px wide (``dpodesk-*.png``)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from pdvault.erasure.models import DeletionRequest
from pdvault.policy import Role
from tests.conftest import customer_body
from tests.e2e.test_console_browser import (  # noqa: F401 - the journeys' fixtures
    PAGE_ERRORS,
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


def _backdate(database_url: str, request_id: str, due_at: datetime) -> None:
    """Move a deletion request's due time into the past, directly in the database (the API
    never files one overdue). In a thread: Playwright's sync API holds this thread's loop."""

    async def run() -> None:
        engine = create_async_engine(database_url)
        async with engine.begin() as conn:
            await conn.execute(
                update(DeletionRequest)
                .where(DeletionRequest.id == uuid.UUID(request_id))
                .values(due_at=due_at)
            )
        await engine.dispose()

    worker = threading.Thread(target=lambda: asyncio.run(run()))
    worker.start()
    worker.join()


def _requests(world: World, database_url: str) -> tuple[str, str, str]:  # noqa: F811
    """An overdue deletion request (the plain customer), one due later (the script-named
    customer), and an access request (filed by the dpo from a letter)."""

    def headers(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {world.tokens[role]}"}

    with httpx.Client(base_url=world.base, timeout=10) as api:
        r = api.post(
            "/v1/deletion-requests",
            json={"customer_id": world.customers["plain"], "channel": "storefront"},
            headers=headers("storefront"),
        )
        assert r.status_code == 201, r.text
        overdue = str(r.json()["id"])
        r = api.post(
            "/v1/deletion-requests",
            json={"customer_id": world.customers["script"], "channel": "storefront"},
            headers=headers("storefront"),
        )
        assert r.status_code == 201, r.text
        later = str(r.json()["id"])
        r = api.post(
            "/v1/access-requests",
            json={
                "customer_id": world.customers["script"],
                "channel": "letter",
                "reference": "CV-2026-0412",
            },
            headers=headers("dpo"),
        )
        assert r.status_code == 201, r.text
        access = str(r.json()["id"])
    _backdate(database_url, overdue, datetime.now(UTC) - timedelta(hours=5, minutes=20))
    return overdue, later, access


def test_a_dpo_works_through_what_is_due(
    page: Any,  # noqa: F811
    world: World,  # noqa: F811
    database_url: str,
) -> None:
    overdue, later, access = _requests(world, database_url)
    sign_in(page, world.tokens["dpo"])
    # The start page opens on what is due.
    summary = page.locator(".due-summary")
    assert "1 việc quá hạn" in summary.inner_text()
    shoot(page, world, "dpodesk-start")

    follow(page, "nav.rooms >> text=Việc đến hạn")
    assert page.locator("h1").inner_text() == "Việc đến hạn"
    first = page.locator("tbody tr").first
    assert first.get_attribute("class") == "overdue"
    assert "⚠ quá hạn 5 giờ" in first.locator(".tag.overdue").inner_text()
    assert first.locator(f"a[href='/console/deletion-requests/{overdue}']").count() == 1
    assert page.locator(f"a[href='/console/deletion-requests/{later}']").count() == 1
    shoot(page, world, "dpodesk-due")

    # The overdue request: approve, and the erasure is shown on the next page.
    follow(page, f"a[href='/console/deletion-requests/{overdue}']")
    assert page.locator("h1").inner_text() == "Yêu cầu xoá dữ liệu"
    shoot(page, world, "dpodesk-deletion")
    follow(page, "#approve button[type=submit]")
    assert "khách hàng đã bị xoá" in page.locator(".done").inner_text()
    erasure = page.locator("#erasure").inner_text()
    assert "deletion.execute" in erasure
    assert "Khoá dữ liệu của khách hàng" in erasure
    shoot(page, world, "dpodesk-erased")
    with httpx.Client(base_url=world.base, timeout=10) as api:
        read = api.get(
            f"/v1/customers/{world.customers['plain']}",
            params={"purpose": "order_confirmation"},
            headers={"Authorization": f"Bearer {world.tokens['employee']}"},
        )
    assert read.status_code == 410

    follow(page, "nav.rooms >> text=Yêu cầu xoá dữ liệu")
    assert page.locator(f"a[href='/console/deletion-requests/{later}']").count() == 1
    shoot(page, world, "dpodesk-deletions")

    # The access request: rejected with a reason.
    follow(page, "nav.rooms >> text=Yêu cầu truy cập dữ liệu")
    shoot(page, world, "dpodesk-accesses")
    follow(page, f"a[href='/console/access-requests/{access}']")
    assert "CV-2026-0412" in page.locator("dl.detail").inner_text()
    shoot(page, world, "dpodesk-access")
    page.fill("#reason", "Không xác minh được người gửi thư (mẫu)")
    follow(page, "#reject button[type=submit]")
    assert "bác bỏ" in page.locator(".done").inner_text()
    assert "Không xác minh được người gửi thư" in page.locator("dl.detail").inner_text()
    shoot(page, world, "dpodesk-access-rejected")

    # The complaint: received → investigating → upheld.
    page.goto(f"/console/complaints/{world.complaint}")
    radios = page.locator("#transition input[name=to]")
    assert radios.count() == 1
    assert radios.first.get_attribute("value") == "investigating"
    shoot(page, world, "dpodesk-complaint")
    page.fill("#note", "Đã tiếp nhận, đang kiểm tra nhật ký truy cập.")
    follow(page, "#transition button[type=submit]")
    assert "trạng thái mới" in page.locator(".done").inner_text()
    assert "đang xem xét" in page.locator("dl.detail").inner_text()
    assert "đang xem xét" in page.locator("table").inner_text()
    page.check("#transition input[value=upheld]")
    page.fill("#note", "Khiếu nại có cơ sở.")
    page.fill("#measures", "Nhắc nhở và đào tạo lại nhân viên.")
    follow(page, "#transition button[type=submit]")
    assert "được chấp nhận" in page.locator("dl.detail").inner_text()
    assert page.locator("table tbody tr").count() == 2
    shoot(page, world, "dpodesk-complaint-upheld")

    # What is due now: the erased request and the decided ones are gone.
    follow(page, "nav.rooms >> text=Việc đến hạn")
    assert page.locator(f"a[href='/console/deletion-requests/{overdue}']").count() == 0
    assert page.locator(f"a[href='/console/access-requests/{access}']").count() == 0
    follow(page, "button:has-text('English')")
    assert page.locator("h1").inner_text() == "What is due"
    shoot(page, world, "dpodesk-due-en")


def test_a_held_customer_is_shown_and_a_blank_reason_is_refused_on_the_form(
    page: Any,  # noqa: F811
    world: World,  # noqa: F811
    database_url: str,
) -> None:
    legal: list[str] = []
    worker = threading.Thread(
        target=lambda: legal.append(
            _token(database_url, f"e2e-legal-{uuid.uuid4().hex[:6]}", Role.LEGAL)
        )
    )
    worker.start()
    worker.join()
    with httpx.Client(base_url=world.base, timeout=10) as api:
        r = api.post(
            "/v1/customers",
            json=customer_body(full_name="Đỗ Văn Giữ"),
            headers={"Authorization": f"Bearer {world.tokens['storefront']}"},
        )
        assert r.status_code == 201, r.text
        customer = str(r.json()["id"])
        r = api.post(
            "/v1/deletion-requests",
            json={"customer_id": customer, "channel": "email"},
            headers={"Authorization": f"Bearer {world.tokens['storefront']}"},
        )
        assert r.status_code == 201, r.text
        request_id = str(r.json()["id"])
        r = api.post(
            "/v1/judicial-requests",
            json={
                "authority_type": "police_investigation",
                "authority_name": "Cơ quan Cảnh sát điều tra Mẫu",
                "document_number": "45/QĐ-MAU",
                "document_date": "2026-11-02",
                "legal_basis": "Điều mẫu (ví dụ)",
                "case_reference": "VA-MAU-0045",
                "customer_ids": [customer],
                "fields": ["full_name"],
                "valid_until": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
            },
            headers={"Authorization": f"Bearer {legal[0]}"},
        )
        assert r.status_code == 201, r.text

    sign_in(page, world.tokens["dpo"])
    page.goto(f"/console/deletion-requests/{request_id}")
    assert "Phong toả pháp lý" in page.locator("#legal-hold").inner_text()
    follow(page, "#approve button[type=submit]")
    assert "phong toả pháp lý" in page.locator("#refusal").inner_text()
    assert page.locator("#erasure").count() == 0
    shoot(page, world, "dpodesk-legal-hold")
    PAGE_ERRORS[id(page)].clear()  # the refusal's 409, reported by the browser: expected

    # Spaces pass the browser's "required" but not the server: the form again, 422.
    page.fill("#reason", "   ")
    follow(page, "#reject button[type=submit]")
    assert page.locator("#reason-error").inner_text() == "Hãy ghi lý do."
    assert page.locator("#reason").get_attribute("aria-invalid") == "true"
    shoot(page, world, "dpodesk-reject-invalid")
    PAGE_ERRORS[id(page)].clear()  # the form's 422, reported by the browser: expected
