"""The DPO's paperwork room (issue 21) through the ASGI client: both documents previewed as a
page and downloaded as PDF and JSON, each download kept as a version (who, when, hash of the
bytes), previews and downloads logged, the room closed to every other role (the policy
decides), nothing personal on any page or file."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from tests.conftest import Issued, TokenFactory, access_events
from tests.console.conftest import SignIn
from tests.console.test_safety import assert_strict_headers
from tests.governance.test_paperwork import (
    assert_nothing_personal,
    insert_breach,
    insert_partners,
    secret_customers,
    versions,
)

PAGE = "/console/paperwork"


async def test_a_dpo_previews_and_downloads_both_documents(
    app: Any,
    client: httpx.AsyncClient,
    issue: TokenFactory,
    console_sign_in: SignIn,
    make_customer: Any,
) -> None:
    dpo: Issued = await issue("dpo", "paperwork-room-dpo")
    customers = await secret_customers(make_customer)
    await insert_partners(app, datetime.now(UTC))
    breach = await insert_breach(
        app,
        customers,
        detected_at=datetime.now(UTC) - timedelta(hours=100),
        notified_after_hours=80,
        dpo=dpo,
        delivered=1,
    )
    await console_sign_in(dpo.token, "vi")

    r = await client.get(PAGE)
    assert r.status_code == 200, r.text
    assert_strict_headers(r)
    assert r.headers["cache-control"] == "no-store"
    assert 'href="/console/paperwork"' in r.text  # the room is in the navigation
    assert "Hồ sơ gửi cơ quan chức năng" in r.text
    assert f"/console/paperwork/breaches/{breach.id}/notice.pdf" in r.text
    assert "Chưa có phiên bản nào được tải về." in r.text
    assert " style=" not in r.text
    assert "<style" not in r.text

    # The notice: preview, then PDF and JSON.
    preview = await client.get(f"{PAGE}/breaches/{breach.id}")
    assert preview.status_code == 200, preview.text
    assert_strict_headers(preview)
    html = preview.text
    assert "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM" in html
    assert "THÔNG BÁO VI PHẠM QUY ĐỊNH VỀ BẢO VỆ DỮ LIỆU CÁ NHÂN" in html
    assert "6. Thời hạn thông báo" in html
    assert '<dd class="to-fill">[Bộ phận bảo vệ dữ liệu điền]</dd>' in html
    assert "Có, chậm 8.0 giờ" in html
    assert_nothing_personal(html)
    pdf = await client.get(f"{PAGE}/breaches/{breach.id}/notice.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == (
        f'attachment; filename="breach-notice-{breach.id}-vi.pdf"'
    )
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Mẫu số 03" in text
    assert_nothing_personal(text)
    notice_json = await client.get(f"{PAGE}/breaches/{breach.id}/notice.json")
    assert notice_json.status_code == 200
    assert json.loads(notice_json.content)["breach"]["notices_delivered"] == 1
    assert_nothing_personal(notice_json.text)

    # The dossier, in English after switching the language.
    await console_sign_in(dpo.token, "en")
    preview = await client.get(f"{PAGE}/impact-assessment")
    assert preview.status_code == 200
    assert "PERSONAL-DATA PROCESSING IMPACT ASSESSMENT DOSSIER" in preview.text
    assert "Giao Hàng Mẫu (ví dụ)" in preview.text
    assert_nothing_personal(preview.text)
    dossier_pdf = await client.get(f"{PAGE}/impact-assessment.pdf")
    assert dossier_pdf.headers["content-type"] == "application/pdf"
    dossier_text = "\n".join(
        p.extract_text() for p in PdfReader(io.BytesIO(dossier_pdf.content)).pages
    )
    assert "Independence - Freedom - Happiness" in dossier_text
    assert_nothing_personal(dossier_text)
    dossier_json = await client.get(f"{PAGE}/impact-assessment.json")
    assert json.loads(dossier_json.content)["document"]["language"] == "en"

    # Four downloads, four versions, each with the hash of the bytes sent; previews are not.
    kept = await versions(app)
    sent = {
        hashlib.sha256(x.content).hexdigest(): x
        for x in (pdf, notice_json, dossier_pdf, dossier_json)
    }
    assert {v.sha256 for v in kept} == set(sent)
    assert {(v.kind, v.format, v.language) for v in kept} == {
        ("breach_notice", "pdf", "vi"),
        ("breach_notice", "json", "vi"),
        ("impact_assessment", "pdf", "en"),
        ("impact_assessment", "json", "en"),
    }
    assert {str(v.principal_id) for v in kept} == {dpo.principal_id}

    # Previews and downloads are each an access event.
    notices = await access_events(app, action="breach.authority_notice")
    assert [(e["outcome"], e["basis"]) for e in notices] == [("allowed", f"breach:{breach.id}")] * 3
    assert len(await access_events(app, action="report.impact_assessment")) == 3

    # The room lists them: who, what, the hash's start.
    r = await client.get(PAGE)
    assert "Versions downloaded" in r.text
    assert "paperwork-room-dpo" in r.text
    for digest in sent:
        assert digest[:16] in r.text
    assert_nothing_personal(r.text)


async def test_a_breach_not_in_the_register_is_404(
    client: httpx.AsyncClient, issue: TokenFactory, console_sign_in: SignIn
) -> None:
    dpo = await issue("dpo", "paperwork-404-dpo")
    await console_sign_in(dpo.token, "en")
    r = await client.get(f"{PAGE}/breaches/0193a5b0-7e2c-7d11-8c4a-5f0e000000b9")
    assert r.status_code == 404


@pytest.mark.parametrize("role", ["auditor", "legal", "admin", "employee"])
async def test_the_room_is_the_dpo_s_alone(
    app: Any,
    client: httpx.AsyncClient,
    issue: TokenFactory,
    console_sign_in: SignIn,
    role: str,
) -> None:
    who = await issue(role, f"paperwork-room-{role}")
    await console_sign_in(who.token, "en")
    start = await client.get("/console/")
    assert 'href="/console/paperwork"' not in start.text
    breach = "0193a5b0-7e2c-7d11-8c4a-5f0e000000b1"
    for path in (
        PAGE,
        f"{PAGE}/impact-assessment",
        f"{PAGE}/impact-assessment.pdf",
        f"{PAGE}/impact-assessment.json",
        f"{PAGE}/breaches/{breach}",
        f"{PAGE}/breaches/{breach}/notice.pdf",
        f"{PAGE}/breaches/{breach}/notice.json",
    ):
        r = await client.get(path)
        assert r.status_code == 403, (role, path)
    denied = [
        e
        for e in await access_events(app, outcome="denied")
        if e["action"] in {"report.impact_assessment", "breach.authority_notice"}
    ]
    assert len(denied) == 7
    assert {e["reason"] for e in denied} == {"role_not_permitted"}
    assert await versions(app) == []
