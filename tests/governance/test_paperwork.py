"""Issue 21: the breach notice (Form No. 03) and the impact-assessment dossier, as JSON.

Every section is checked against the rows that produced it (inserted directly); only the dpo
may draft either (others 403, logged); every generation is an access event and a version row
whose hash is the hash of the bytes sent; no customer's value appears in either document.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from pdvault.governance.models import Breach, BreachCustomer
from pdvault.governance.paperwork_models import PaperworkVersion
from pdvault.governance.reports import compliance_report
from pdvault.notifications.models import Notification
from pdvault.partners.models import Grant, Partner
from pdvault.policy.rules import RULES
from tests.conftest import Issued, TokenFactory, access_events

NOTICE = "/v1/breaches/{}/authority-notice"
DOSSIER = "/v1/reports/impact-assessment"

# Distinctive fictional customers: none of these may reach either document.
SECRET_NAME = "Zyxwq Trần Thị Bí Mật"
SECRET_PHONE = "0987650123"
SECRET_EMAIL = "zyxwq.bimat.paperwork@example.com"
SECRET_ADDRESS = "Số 77 Ngõ Zyxwq, Phường Mẫu, Hà Nội"
SECRETS = (SECRET_NAME, "Zyxwq", SECRET_PHONE, "987650123", SECRET_EMAIL, "Ngõ Zyxwq")


def assert_nothing_personal(text: str) -> None:
    for value in SECRETS:
        assert value not in text, value


async def secret_customers(make_customer: Any) -> list[uuid.UUID]:
    first = await make_customer(
        full_name=SECRET_NAME, phone=SECRET_PHONE, email=SECRET_EMAIL, address=SECRET_ADDRESS
    )
    second = await make_customer(full_name="Zyxwq Lê Văn Hai")
    return [uuid.UUID(first), uuid.UUID(second)]


async def insert_breach(
    app: Any,
    customers: list[uuid.UUID],
    *,
    detected_at: datetime,
    notified_after_hours: float | None,
    dpo: Issued,
    delivered: int = 0,
) -> Breach:
    """A breach naming ``customers``, one outbox notice each (``delivered`` of them delivered),
    and a notice of another breach that must not be counted."""
    breach = Breach(
        id=uuid.uuid4(),
        detected_at=detected_at,
        recorded_at=detected_at + timedelta(hours=1),
        recorded_by=uuid.UUID(dpo.principal_id),
        summary="Bản sao lưu mẫu bị truy cập trái phép qua khoá lộ",
        data_categories=["full_name", "phone"],
        all_customers=False,
        affected_count=len(customers),
        authority_due_at=detected_at + timedelta(hours=72),
        authority_notified_at=(
            None
            if notified_after_hours is None
            else detected_at + timedelta(hours=notified_after_hours)
        ),
        authority_name=None if notified_after_hours is None else "Cục A05 (ví dụ)",
        authority_reference=None if notified_after_hours is None else "TB-MAU-77",
        subjects_notified_at=detected_at + timedelta(hours=2),
        subject_notices=len(customers),
    )
    other = uuid.uuid4()
    async with app.state.runtime.sessions() as session:
        session.add(breach)
        await session.flush()
        for i, cid in enumerate(customers):
            session.add(BreachCustomer(breach_id=breach.id, customer_id=cid))
            session.add(
                Notification(
                    customer_id=cid,
                    kind="breach_notification",
                    data={"breach_id": str(breach.id)},
                    dedupe_key=f"breach:{breach.id}:{cid}",
                    delivered_at=detected_at + timedelta(hours=3) if i < delivered else None,
                )
            )
        session.add(
            Notification(
                customer_id=customers[0],
                kind="breach_notification",
                data={"breach_id": str(other)},
                dedupe_key=f"breach:{other}:{customers[0]}",
            )
        )
        await session.commit()
    return breach


def lines_of(doc: dict[str, Any], number: int) -> dict[str, dict[str, Any]]:
    section = doc["sections"][number - 1]
    assert section["number"] == number
    return {line["label"]: line for line in section["lines"]}


async def versions(app: Any) -> list[PaperworkVersion]:
    async with app.state.runtime.sessions() as session:
        rows = await session.scalars(select(PaperworkVersion).order_by(PaperworkVersion.id))
        return list(rows.all())


# -- the breach notice ---------------------------------------------------------------------


async def test_notice_states_every_section_from_the_register(
    app: Any, client: httpx.AsyncClient, dpo: Issued, make_customer: Any
) -> None:
    customers = await secret_customers(make_customer)
    detected = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=100)
    breach = await insert_breach(
        app, customers, detected_at=detected, notified_after_hours=80.5, dpo=dpo, delivered=1
    )
    r = await client.get(NOTICE.format(breach.id), headers=dpo.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert_nothing_personal(r.text)
    body = r.json()

    facts = body["breach"]
    assert facts["id"] == str(breach.id)
    assert facts["affected_count"] == 2
    assert facts["named_customers"] == 2
    assert facts["notices_queued"] == 2  # the other breach's notice is not counted
    assert facts["notices_delivered"] == 1
    assert facts["data_categories"] == ["full_name", "phone"]
    assert facts["deadline_hours"] == 72
    assert facts["late"] is True
    assert facts["hours_late"] == 8.5
    assert facts["authority"] == "Cục A05 (ví dụ)"

    settings = app.state.runtime.settings
    assert body["controller"]["name"] == settings.controller.name
    assert body["controller"]["dpo_unit"] == settings.paperwork.dpo_unit
    assert body["legal"]["decree"] == settings.paperwork.decree

    doc = body["document"]
    assert doc["language"] == "vi"
    assert doc["national_header"] == [
        "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
    ]
    assert doc["form"] == "Mẫu số 03"
    assert doc["title"] == "THÔNG BÁO VI PHẠM QUY ĐỊNH VỀ BẢO VỆ DỮ LIỆU CÁ NHÂN"
    assert "Điều 23" in doc["legal_basis"][1]
    assert [s["title"] for s in doc["sections"]] == [
        "Thông tin bên kiểm soát dữ liệu",
        "Mô tả vi phạm",
        "Loại dữ liệu và số lượng chủ thể bị ảnh hưởng",
        "Hậu quả có thể xảy ra",
        "Biện pháp đã và sẽ thực hiện",
        "Thời hạn thông báo",
        "Đầu mối liên hệ",
    ]
    one = lines_of(doc, 1)
    assert one["Tên tổ chức"]["value"] == settings.controller.name
    assert one["Địa chỉ trụ sở"]["value"] == settings.controller.address
    assert one["Mã số doanh nghiệp, người đại diện theo pháp luật"]["to_fill"] is True
    two = lines_of(doc, 2)
    assert two["Mã vụ việc trong sổ vi phạm"]["value"] == str(breach.id)
    hanoi = detected.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert (
        two["Thời điểm phát hiện"]["value"] == f"{hanoi:%H:%M} ngày {hanoi:%d/%m/%Y} (giờ Việt Nam)"
    )
    assert two["Diễn biến"]["value"] == breach.summary
    three = lines_of(doc, 3)
    assert three["Loại dữ liệu cá nhân liên quan"]["value"] == "Họ và tên, Số điện thoại"
    assert three["Phạm vi"]["value"] == "Khách hàng được xác định trong sổ vi phạm"
    assert three["Số khách hàng bị ảnh hưởng"]["value"] == "2"
    four = lines_of(doc, 4)
    assert all(line["to_fill"] for line in four.values())
    five = lines_of(doc, 5)
    assert five["Thông báo đã lập cho chủ thể dữ liệu"]["value"] == "2"
    assert five["Thông báo đã gửi đến chủ thể dữ liệu"]["value"] == "1"
    six = lines_of(doc, 6)
    assert six["Thời hạn theo quy định"]["value"].startswith("72 giờ kể từ khi phát hiện")
    assert six["Cơ quan đã nhận thông báo, số tham chiếu"]["value"] == "Cục A05 (ví dụ), TB-MAU-77"
    assert six["Thông báo quá hạn"]["value"] == "Có, chậm 8.5 giờ"
    assert six["Lý do chậm thông báo"]["to_fill"] is True
    seven = lines_of(doc, 7)
    assert seven["Đầu mối liên hệ với cơ quan chức năng"]["value"] == (
        settings.paperwork.contact_point
    )
    assert "Lý do chậm thông báo" in body["to_fill"]
    assert doc["signature"][0] == "ĐẠI DIỆN BÊN KIỂM SOÁT DỮ LIỆU"

    events = await access_events(app, action="breach.authority_notice")
    assert [(e["outcome"], e["basis"]) for e in events] == [("allowed", f"breach:{breach.id}")]
    assert str(events[0]["principal_id"]) == dpo.principal_id
    (version,) = await versions(app)
    assert version.kind == "breach_notice"
    assert version.breach_id == breach.id
    assert str(version.principal_id) == dpo.principal_id
    assert (version.language, version.format) == ("vi", "json")
    assert version.sha256 == hashlib.sha256(r.content).hexdigest()


async def test_notice_on_time_has_no_lateness_to_explain(
    app: Any, client: httpx.AsyncClient, dpo: Issued, make_customer: Any
) -> None:
    customers = await secret_customers(make_customer)
    detected = datetime.now(UTC) - timedelta(hours=10)
    breach = await insert_breach(
        app, customers, detected_at=detected, notified_after_hours=None, dpo=dpo
    )
    r = await client.get(NOTICE.format(breach.id), headers=dpo.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["breach"]["late"] is False
    assert body["breach"]["hours_late"] == 0
    six = lines_of(body["document"], 6)
    assert six["Thời điểm đã thông báo cơ quan chức năng"]["value"] == "Chưa"
    assert six["Thông báo quá hạn"]["value"] == "Không"
    assert "Lý do chậm thông báo" not in six
    assert "Lý do chậm thông báo" not in body["to_fill"]


async def test_notice_unnotified_past_deadline_is_late_now(
    app: Any, client: httpx.AsyncClient, dpo: Issued, make_customer: Any
) -> None:
    customers = await secret_customers(make_customer)
    detected = datetime.now(UTC) - timedelta(hours=96)
    breach = await insert_breach(
        app, customers, detected_at=detected, notified_after_hours=None, dpo=dpo
    )
    body = (await client.get(NOTICE.format(breach.id), headers=dpo.headers)).json()
    assert body["breach"]["late"] is True
    assert 23.9 <= body["breach"]["hours_late"] <= 24.1
    assert "Lý do chậm thông báo" in body["to_fill"]


async def test_notice_in_english(
    app: Any, client: httpx.AsyncClient, dpo: Issued, make_customer: Any
) -> None:
    customers = await secret_customers(make_customer)
    breach = await insert_breach(
        app,
        customers,
        detected_at=datetime.now(UTC) - timedelta(hours=100),
        notified_after_hours=80,
        dpo=dpo,
    )
    r = await client.get(NOTICE.format(breach.id), params={"lang": "en"}, headers=dpo.headers)
    assert r.status_code == 200, r.text
    doc = r.json()["document"]
    assert doc["language"] == "en"
    assert doc["form"] == "Form No. 03"
    assert doc["national_header"][0] == "SOCIALIST REPUBLIC OF VIET NAM"
    assert [s["title"] for s in doc["sections"]][:3] == [
        "The data controller",
        "What happened",
        "Kinds of data and people affected",
    ]
    assert lines_of(doc, 3)["Kinds of personal data concerned"]["value"] == (
        "Full name, Phone number"
    )
    assert lines_of(doc, 6)["Notified late"]["value"] == "Yes, 8.0 hours late"
    (version,) = await versions(app)
    assert version.language == "en"


async def test_notice_of_no_breach_is_404_and_logged(
    app: Any, client: httpx.AsyncClient, dpo: Issued
) -> None:
    missing = uuid.uuid4()
    r = await client.get(NOTICE.format(missing), headers=dpo.headers)
    assert r.status_code == 404
    events = await access_events(app, action="breach.authority_notice")
    assert [(e["outcome"], e["reason"]) for e in events] == [("denied", "not_found")]
    assert await versions(app) == []


@pytest.mark.parametrize("role", ["auditor", "employee", "storefront", "legal", "admin"])
async def test_only_the_dpo_drafts_either_document(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory, dpo: Issued, role: str
) -> None:
    who = await issue(role, f"paperwork-{role}")
    breach_id = uuid.uuid4()
    for path, action in (
        (NOTICE.format(breach_id), "breach.authority_notice"),
        (DOSSIER, "report.impact_assessment"),
    ):
        for params in ({}, {"format": "pdf"}):
            r = await client.get(path, params=params, headers=who.headers)
            assert r.status_code == 403, (role, path, r.text)
        events = await access_events(app, action=action)
        assert [(e["outcome"], e["reason"]) for e in events] == [
            ("denied", "role_not_permitted")
        ] * 2
    assert await versions(app) == []


# -- the impact assessment -----------------------------------------------------------------


async def insert_partners(app: Any, now: datetime) -> tuple[Partner, Grant, Grant]:
    partner = Partner(name="Giao Hàng Mẫu (ví dụ)", contract_ref="HD-MAU-2026-001")
    other = Partner(name="Lắp Đặt Mẫu (ví dụ)", contract_ref="HD-MAU-2026-002")
    async with app.state.runtime.sessions() as session:
        session.add_all([partner, other])
        await session.flush()
        live = Grant(
            partner_id=partner.id,
            contract_ref="HD-MAU-2026-001",
            purposes=["order_fulfillment"],
            fields={"phone": "plain", "full_name": "masked", "address": "plain"},
            valid_from=now - timedelta(days=30),
            valid_until=now + timedelta(days=335),
        )
        revoked = Grant(
            partner_id=other.id,
            contract_ref="HD-MAU-2026-002",
            purposes=["order_fulfillment"],
            fields={"phone": "masked"},
            valid_from=now - timedelta(days=60),
            valid_until=now + timedelta(days=300),
            revoked_at=now - timedelta(days=1),
        )
        session.add_all([live, revoked])
        await session.commit()
    return partner, live, revoked


async def test_dossier_states_every_section_from_what_the_vault_enforces(
    app: Any, client: httpx.AsyncClient, dpo: Issued, auditor: Issued, make_customer: Any
) -> None:
    runtime = app.state.runtime
    settings = runtime.settings
    settings.paperwork = settings.paperwork.model_copy(
        update={"processing_started": date(2026, 2, 1)}
    )
    await secret_customers(make_customer)
    now = datetime.now(UTC)
    _, live, _ = await insert_partners(app, now)
    # A refusal for the figures: the auditor may not draft the dossier.
    assert (await client.get(DOSSIER, headers=auditor.headers)).status_code == 403

    since = datetime(2026, 1, 31, 17, 0, tzinfo=UTC)  # 2026-02-01 00:00 in Hà Nội
    until = datetime.now(UTC)  # before the draft's own event
    r = await client.get(DOSSIER, params={"until": until.isoformat()}, headers=dpo.headers)
    assert r.status_code == 200, r.text
    assert_nothing_personal(r.text)
    body = r.json()

    assert body["processing_started"] == "2026-02-01"
    assert body["submission_due"] == "2026-04-02"
    assert body["submission_days"] == 60

    # The rule table, derived: every purpose with its roles, fields, condition.
    assert [p["purpose"] for p in body["purposes"]] == [p.value for p in RULES]
    for p in body["purposes"]:
        rule = RULES[p["purpose"]]  # type: ignore[index]
        assert p["roles"] == sorted(r.value for r in rule.roles)
        assert p["fields"] == list(rule.fields)
        assert p["condition"] == rule.condition.value
        assert p["legal"] == rule.legal

    fields = {f["field"]: f for f in body["fields"]}
    assert set(fields) == {"full_name", "phone", "email", "address"}
    assert all(f["encrypted"] for f in fields.values())
    assert [n for n, f in fields.items() if f["blind_index"]] == ["phone", "email"]
    assert fields["phone"]["masked_example"] == "*******123"
    assert fields["full_name"]["masked_example"] == "N. V. Mẫu"

    partners = {p["name"]: p for p in body["partners"]}
    assert set(partners) == {"Giao Hàng Mẫu (ví dụ)", "Lắp Đặt Mẫu (ví dụ)"}
    (g,) = partners["Giao Hàng Mẫu (ví dụ)"]["grants"]
    assert g["id"] == str(live.id)
    assert g["fields"] == {"address": "plain", "full_name": "masked", "phone": "plain"}
    assert g["in_force"] is True
    (gr,) = partners["Lắp Đặt Mẫu (ví dụ)"]["grants"]
    assert gr["in_force"] is False
    assert gr["revoked_at"] is not None

    assert {r["kind"]: r["years"] for r in body["retention"]} == {
        "invoice": settings.retention_years_invoice,
        "receipt": settings.retention_years_receipt,
        "contract": settings.retention_years_contract,
        "other": settings.retention_years_other,
    }
    assert body["keys"] == {
        "provider": runtime.keys.name,
        "primary_version": runtime.keys.primary_version,
        "versions_held": sorted(runtime.keys.versions()),
    }
    assert body["access_log"]["chains"] == settings.audit_slots

    # The figures are the compliance report's over the same window.
    fig = body["figures"]
    assert datetime.fromisoformat(fig["since"]) == since
    async with runtime.sessions() as session:
        report = await compliance_report(session, since, until)
    assert fig["accesses"] == [a.model_dump() for a in report.accesses]
    assert {"role": "storefront", "purpose": "registration", "count": 2} in fig["accesses"]
    assert {"reason": "role_not_permitted", "count": 1} in fig["denials"]
    assert fig["deletion_requests"] == report.deletion_requests.model_dump()
    assert fig["complaints"] == report.complaints.model_dump()
    assert fig["breaches"] == report.breaches.model_dump()
    assert fig["live_customers"] == 2
    assert fig["access_requests"] == {"received": 0, "on_time": 0, "late": 0, "overdue": 0}

    doc = body["document"]
    assert doc["title"] == "HỒ SƠ ĐÁNH GIÁ TÁC ĐỘNG XỬ LÝ DỮ LIỆU CÁ NHÂN"
    assert "Điều 24" in doc["form"]
    assert [s["title"] for s in doc["sections"]] == [
        "Thông tin bên kiểm soát dữ liệu",
        "Thời điểm bắt đầu xử lý và thời hạn nộp hồ sơ",
        "Mục đích xử lý và vai trò được phép",
        "Loại dữ liệu cá nhân và cách bảo vệ",
        "Bên nhận dữ liệu: đối tác theo hợp đồng",
        "Thời hạn lưu trữ",
        "Chuyển dữ liệu cá nhân ra nước ngoài",
        "Biện pháp bảo đảm an ninh dữ liệu",
        "Số liệu của kỳ",
        "Rủi ro và biện pháp giảm thiểu",
    ]
    two = lines_of(doc, 2)
    assert two["Ngày bắt đầu xử lý dữ liệu cá nhân"]["value"] == "01/02/2026"
    assert two["Hạn gửi hồ sơ đến cơ quan chức năng"]["value"].startswith("02/04/2026")
    three = lines_of(doc, 3)
    assert len(three) == len(RULES)
    assert three["Tiếp thị qua thư điện tử (marketing)"]["value"] == (
        "Vai trò: nhân viên. Dữ liệu: Họ và tên, Địa chỉ thư điện tử. Quyền: đọc. "
        "Điều kiện: có sự đồng ý nhận tiếp thị."
    )
    five = doc["sections"][4]["lines"]
    assert [line["label"] for line in five] == [
        "Giao Hàng Mẫu (ví dụ)",
        "Quyền được cấp cho Giao Hàng Mẫu (ví dụ)",
        "Lắp Đặt Mẫu (ví dụ)",
        "Quyền được cấp cho Lắp Đặt Mẫu (ví dụ)",
    ]
    assert "Số điện thoại (đầy đủ)" in five[1]["value"]
    assert "Họ và tên (dạng che)" in five[1]["value"]
    assert "đang hiệu lực" in five[1]["value"]
    assert "đã thu hồi" in five[3]["value"]
    six = lines_of(doc, 6)
    assert six["Hoá đơn"]["value"].startswith(f"{settings.retention_years_invoice} năm")
    assert all(line["to_fill"] for line in lines_of(doc, 7).values())
    eight = lines_of(doc, 8)
    assert eight["Nơi giữ khoá chính"]["value"].startswith(runtime.keys.name)
    nine = lines_of(doc, 9)
    assert nine["Số khách hàng đang lưu giữ"]["value"] == "2"
    assert (
        "storefront / registration: 2"
        in nine["Truy cập được phép theo vai trò và mục đích"]["value"]
    )
    assert "role_not_permitted: 1" in nine["Truy cập bị từ chối theo lý do"]["value"]
    ten = doc["sections"][9]["lines"]
    assert ten[-1]["to_fill"] is True
    assert set(body["to_fill"]) == {
        "Mã số doanh nghiệp, người đại diện theo pháp luật",
        "Có chuyển ra nước ngoài không; nếu có: bên nhận, quốc gia, căn cứ",
        "Đánh giá mức độ rủi ro và các biện pháp bổ sung",
    }

    events = await access_events(app, action="report.impact_assessment")
    assert [e["outcome"] for e in events] == ["denied", "allowed"]
    (version,) = await versions(app)
    assert (version.kind, version.breach_id, version.format) == ("impact_assessment", None, "json")
    assert version.sha256 == hashlib.sha256(r.content).hexdigest()


async def test_dossier_in_english_without_partners(client: httpx.AsyncClient, dpo: Issued) -> None:
    r = await client.get(DOSSIER, params={"lang": "en"}, headers=dpo.headers)
    assert r.status_code == 200, r.text
    doc = r.json()["document"]
    assert doc["title"] == "PERSONAL-DATA PROCESSING IMPACT ASSESSMENT DOSSIER"
    five = doc["sections"][4]
    assert five["title"] == "Recipients: contracted partners"
    assert five["lines"][0]["value"] == "No partner holds a grant"


async def test_dossier_refuses_an_empty_period_and_drafts_nothing(
    app: Any, client: httpx.AsyncClient, dpo: Issued
) -> None:
    r = await client.get(
        DOSSIER,
        params={"since": "2026-03-01T00:00:00Z", "until": "2026-02-01T00:00:00Z"},
        headers=dpo.headers,
    )
    assert r.status_code == 422
    # Processing that starts in the future leaves no period up to now either.
    settings = app.state.runtime.settings
    later = datetime.now(UTC).date() + timedelta(days=2)
    settings.paperwork = settings.paperwork.model_copy(update={"processing_started": later})
    r = await client.get(DOSSIER, params={"format": "pdf"}, headers=dpo.headers)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await access_events(app, action="report.impact_assessment") == []
    assert await versions(app) == []
