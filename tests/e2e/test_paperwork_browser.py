"""The paperwork room in a real browser (issue 21): the dpo opens the room from the
navigation, previews the dossier and a breach notice, downloads their PDF and JSON, and sees
the versions listed; the pages run clean under the strict CSP. Screenshots as the console's
journeys take them (``shoot``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_console_browser import (  # the console journeys' fixtures and helpers
    World,
    browser,
    follow,
    page,
    shoot,
    sign_in,
    world,
)

pytestmark = pytest.mark.e2e
__all__ = ["browser", "page", "world"]


def _breach(world: World) -> str:
    with httpx.Client(base_url=world.base, timeout=10) as api:
        r = api.post(
            "/v1/breaches",
            json={
                "detected_at": "2026-11-25T08:00:00Z",
                "summary": "Sao lưu mẫu bị truy cập trái phép (ví dụ).",
                "data_categories": ["full_name", "email"],
                "customer_ids": [world.customers["plain"]],
            },
            headers={"Authorization": f"Bearer {world.tokens['dpo']}"},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def test_a_dpo_previews_and_downloads_the_paperwork(page: Any, world: World) -> None:
    breach = _breach(world)
    sign_in(page, world.tokens["dpo"])
    follow(page, "nav.rooms >> text=Hồ sơ pháp lý")
    assert page.locator("h1").inner_text() == "Hồ sơ gửi cơ quan chức năng"
    shoot(page, world, "paperwork")

    follow(page, "#dossier-heading ~ p.downloads >> text=Xem trước")
    assert page.locator("h1").inner_text() == "HỒ SƠ ĐÁNH GIÁ TÁC ĐỘNG XỬ LÝ DỮ LIỆU CÁ NHÂN"
    assert page.locator("dd.to-fill").count() == 3
    shoot(page, world, "paperwork-dossier")
    with page.expect_download() as download:
        page.click("text=Tải về PDF")
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF-")
    assert download.value.suggested_filename.endswith("-vi.pdf")

    follow(page, "text=Về hồ sơ gửi cơ quan chức năng")
    follow(page, f"a[href='/console/paperwork/breaches/{breach}']")
    assert "THÔNG BÁO VI PHẠM" in page.locator("h1").inner_text()
    shoot(page, world, "paperwork-notice")
    with page.expect_download() as download:
        page.click("text=Tải về JSON")
    body = json.loads(Path(download.value.path()).read_text("utf-8"))
    assert body["breach"]["id"] == breach
    assert "Trần Thị Mẫu" not in json.dumps(body, ensure_ascii=False)

    follow(page, "text=Về hồ sơ gửi cơ quan chức năng")
    rows = page.locator("table.paperwork-versions tbody tr")
    assert rows.count() == 2
    shoot(page, world, "paperwork-versions")
