"""The DPO's desk, breaches and notices (issue 19.1): every route through the API's gate and
service, the same events as the API, refusals as the API's, bad forms answered beside their
fields with nothing changed, a form sent twice acting once, CSRF required."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, insert, select

from pdvault.customers.models import Customer
from pdvault.db import new_id, utcnow
from pdvault.governance.models import Breach
from pdvault.notifications.models import Notification
from tests.conftest import Issued, TokenFactory, access_events
from tests.console.conftest import SignIn, post_form
from tests.governance.conftest import set_breach
from tests.helpers import FakeClock

SHOP = ZoneInfo("Asia/Ho_Chi_Minh")
SUMMARY = "Bản sao lưu mẫu bị truy cập trái phép (ví dụ)"
_ONCE = re.compile(r'name="once" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def shop(moment: datetime) -> str:
    return moment.astimezone(SHOP).strftime("%Y-%m-%dT%H:%M")


def fields_of(html: str, action: str) -> dict[str, str]:
    """The hidden fields (csrf, once) of the form posting to ``action``."""
    start = html.index(f'action="{action}"')
    end = html.index("</form>", start)
    form = html[start:end]
    found = {"csrf": _CSRF.search(form), "once": _ONCE.search(form)}
    assert all(found.values()), form
    return {k: m.group(1) for k, m in found.items() if m}


async def bulk_customers(app: Any, count: int) -> list[uuid.UUID]:
    """Customers straight into the table (the shape tests/governance's fan-out test uses)."""
    now = utcnow()
    ids = [new_id() for _ in range(count)]
    async with app.state.runtime.sessions() as session:
        await session.execute(
            insert(Customer),
            [
                {
                    "id": i,
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                    "policy_version": "2024-01",
                }
                for i in ids
            ],
        )
        await session.commit()
    return ids


async def count(app: Any, model: Any) -> int:
    async with app.state.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def breach_form(**over: str) -> dict[str, str]:
    form = {
        "detected_at": shop(datetime.now(UTC) - timedelta(hours=2)),
        "summary": SUMMARY,
        "category_email": "on",
        "category_full_name": "on",
        "scope": "all",
    }
    form.update(over)
    return form


@pytest.fixture
async def dpo(issue: TokenFactory) -> Issued:
    return await issue("dpo", "desk-dpo")


async def record(client: httpx.AsyncClient, csrf_page: str, **over: str) -> str:
    hidden = fields_of(csrf_page, "/console/breaches")
    r = await post_form(client, "/console/breaches", {**hidden, **breach_form(**over)})
    assert r.status_code == 303, r.text
    found = re.fullmatch(r"/console/breaches/([0-9a-f-]{36})\?done=recorded", r.headers["location"])
    assert found, r.headers["location"]
    return found.group(1)


async def test_a_dpo_records_a_breach_once_with_the_apis_event_and_reads_its_deadline(
    app: Any, client: httpx.AsyncClient, dpo: Issued, console_sign_in: SignIn
) -> None:
    await bulk_customers(app, 3)
    await console_sign_in(dpo.token)
    new = await client.get("/console/breaches/new")
    assert new.status_code == 200
    assert new.headers["cache-control"] == "no-store"
    hidden = fields_of(new.text, "/console/breaches")
    form = {**hidden, **breach_form()}
    first = await post_form(client, "/console/breaches", form)
    again = await post_form(client, "/console/breaches", form)  # a double click
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert await count(app, Breach) == 1
    breach_id = first.headers["location"].split("/")[-1].split("?")[0]
    [event] = await access_events(app, action="breach.record")
    assert event["basis"] == f"breach:{breach_id}"
    assert event["request_id"].startswith("console:")
    assert event["outcome"] == "allowed"

    page = await client.get(first.headers["location"])
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "Refresh" not in page.headers
    assert "Đã ghi nhận sự cố" in page.text  # the confirmation
    assert SUMMARY in page.text
    assert "Tất cả khách hàng: 3" in page.text
    # 72 h from a detection 2 h ago: 69 or 70 h left (the form's minute is cut).
    assert re.search(r"còn 2 ngày (21|22) giờ", page.text), page.text
    [read] = await access_events(app, action="breach.read")
    assert read["basis"] == f"breach:{breach_id}"

    # The DPO's start page lists breaches too (what is due): count this page's own.
    listed_before = len(await access_events(app, action="breach.list"))
    listing = await client.get("/console/breaches")
    assert listing.status_code == 200
    assert f"/console/breaches/{breach_id}" in listing.text
    assert len(await access_events(app, action="breach.list")) == listed_before + 1


async def test_the_same_event_as_the_api_writes(
    app: Any, client: httpx.AsyncClient, dpo: Issued, console_sign_in: SignIn
) -> None:
    await console_sign_in(dpo.token)
    new = await client.get("/console/breaches/new")
    breach_id = await record(client, new.text)
    api = await client.post(
        "/v1/breaches",
        json={
            "detected_at": datetime.now(UTC).isoformat(),
            "summary": SUMMARY,
            "data_categories": ["email"],
            "all_customers": True,
        },
        headers=dpo.headers,
    )
    assert api.status_code == 201
    console_event, api_event = await access_events(app, action="breach.record")
    same = ("principal_id", "role", "action", "outcome", "customer_id", "purpose", "reason")
    assert {k: console_event[k] for k in same} == {k: api_event[k] for k in same}
    assert console_event["basis"] == f"breach:{breach_id}"


@pytest.mark.parametrize(
    ("over", "field_messages"),
    [
        (
            {
                "detected_at": "",
                "summary": "",
                "scope": "",
                "category_email": "",
                "category_full_name": "",
            },
            [
                "Bắt buộc.",
                "Tối đa 2.000 ký tự",
                "Hãy đánh dấu ít nhất một loại dữ liệu.",
                "Hãy chọn tất cả khách hàng, hoặc ghi tên từng khách hàng.",
            ],
        ),
        ({"detected_at": "hôm qua"}, ["Hãy viết ngày và giờ"]),
        ({"summary": "Khách liên hệ qua mau@example.com"}, ["không được chứa địa chỉ email"]),
        ({"summary": "Gọi 0912 345 678 để hỏi"}, ["không được chứa địa chỉ email"]),
        ({"scope": "named", "customer_ids": "\n"}, ["Hãy ghi ít nhất một khách hàng"]),
        ({"scope": "named", "customer_ids": "abc"}, ["Dòng 1 không phải mã khách hàng."]),
    ],
)
async def test_a_bad_breach_form_is_answered_beside_its_fields_and_records_nothing(
    app: Any,
    client: httpx.AsyncClient,
    dpo: Issued,
    console_sign_in: SignIn,
    over: dict[str, str],
    field_messages: list[str],
) -> None:
    await console_sign_in(dpo.token)
    new = await client.get("/console/breaches/new")
    form = {**fields_of(new.text, "/console/breaches"), **breach_form(**over)}
    r = await post_form(client, "/console/breaches", form)
    assert r.status_code == 422, r.text
    for message in field_messages:
        assert message in r.text
    assert 'class="error" id="' in r.text  # beside a field
    assert 'aria-invalid="true"' in r.text or 'aria-describedby="' in r.text  # and linked to it
    assert await count(app, Breach) == 0
    assert await access_events(app, action="breach.record") == []


async def test_the_services_refusals_show_beside_the_fields(
    app: Any, client: httpx.AsyncClient, dpo: Issued, console_sign_in: SignIn
) -> None:
    [known] = await bulk_customers(app, 1)
    await console_sign_in(dpo.token, "en")
    new = await client.get("/console/breaches/new")
    hidden = fields_of(new.text, "/console/breaches")
    future = shop(datetime.now(UTC) + timedelta(hours=3))
    r = await post_form(client, "/console/breaches", {**hidden, **breach_form(detected_at=future)})
    assert r.status_code == 422
    assert 'id="detected_at-error">May not be in the future.' in r.text
    ids = f"{known}\n\n{uuid.uuid4()}\n"
    r = await post_form(
        client,
        "/console/breaches",
        {
            **fields_of(new.text, "/console/breaches"),
            **breach_form(scope="named", customer_ids=ids),
        },
    )
    assert r.status_code == 422
    assert "Line 3: no such customer." in r.text
    assert await count(app, Breach) == 0

    # Named customers that exist: recorded, and the page lists their ids.
    r = await post_form(
        client,
        "/console/breaches",
        {
            **fields_of(new.text, "/console/breaches"),
            **breach_form(scope="named", customer_ids=f"{known}\n"),
        },
    )
    assert r.status_code == 303
    page = await client.get(r.headers["location"])
    assert "1 customers named" in page.text
    assert str(known) in page.text


async def test_the_authority_notification_is_recorded_once_late_when_late(
    app: Any, client: httpx.AsyncClient, dpo: Issued, console_sign_in: SignIn
) -> None:
    await console_sign_in(dpo.token)
    breach_id = await record(client, (await client.get("/console/breaches/new")).text)
    detected = datetime.now(UTC) - timedelta(hours=80)
    await set_breach(
        app, breach_id, detected_at=detected, authority_due_at=detected + timedelta(hours=72)
    )
    page = await client.get(f"/console/breaches/{breach_id}")
    assert re.search(r"trễ 8 giờ \d+ phút", page.text), page.text
    action = f"/console/breaches/{breach_id}/authority-notification"
    hidden = fields_of(page.text, action)

    # Bad: no reference, a time before the detection; nothing recorded.
    bad = {**hidden, "notified_at": shop(detected - timedelta(hours=1)), "authority": "Cục A05"}
    r = await post_form(client, action, bad)
    assert r.status_code == 422
    assert 'id="reference-error">Bắt buộc.' in r.text
    r = await post_form(client, action, {**bad, "reference": "TB-1"})
    assert r.status_code == 422
    assert "Không được sớm hơn lúc phát hiện sự cố." in r.text
    assert await access_events(app, action="breach.notify_authority") == []

    good = {
        **fields_of(page.text, action),
        "notified_at": shop(datetime.now(UTC) - timedelta(minutes=5)),
        "authority": "Cục An ninh mạng (ví dụ)",
        "reference": "TB-2026-001",
    }
    first = await post_form(client, action, good)
    again = await post_form(client, action, good)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == f"/console/breaches/{breach_id}?done=authority"
    [event] = await access_events(app, action="breach.notify_authority")
    assert event["basis"] == f"breach:{breach_id}"
    page = await client.get(first.headers["location"])
    assert "TB-2026-001" in page.text
    assert re.search(r"đã thông báo trễ 7 giờ 5\d phút", page.text)
    assert action not in page.text  # no form once notified

    # Another drawn form: the service's refusal (already notified), shown, nothing changed.
    r = await post_form(client, action, {**good, "once": "another", "reference": "TB-2"})
    assert r.status_code == 409
    assert "Việc này đã được thông báo rồi." in r.text
    async with app.state.runtime.sessions() as session:
        stored = await session.get(Breach, uuid.UUID(breach_id))
        assert stored is not None
        assert stored.authority_reference == "TB-2026-001"


async def test_the_subject_fanout_runs_in_batches_once_and_the_page_shows_its_progress(
    app: Any, client: httpx.AsyncClient, dpo: Issued, issue: TokenFactory, console_sign_in: SignIn
) -> None:
    app.state.runtime.settings.breach_fanout_batch = 7  # several batches
    await bulk_customers(app, 23)
    await console_sign_in(dpo.token)
    breach_id = await record(client, (await client.get("/console/breaches/new")).text)
    page = await client.get(f"/console/breaches/{breach_id}")
    assert "Chưa gửi thông báo nào." in page.text
    action = f"/console/breaches/{breach_id}/subject-notifications"
    form = fields_of(page.text, action)
    first = await post_form(client, action, form)
    # (The ASGI test client returns once the response's background task, the fan-out, ran.)
    again = await post_form(client, action, form)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == f"/console/breaches/{breach_id}?done=subjects"
    assert await count(app, Notification) == 23
    [event] = await access_events(app, action="breach.notify_subjects")
    assert event["basis"] == f"breach:{breach_id}"

    page = await client.get(first.headers["location"])
    assert '<progress id="fanout" max="23" value="23">' in page.text
    assert "23 trên 23 đã vào hộp thư đi" in page.text
    assert "Refresh" not in page.headers
    async with app.state.runtime.sessions() as session:
        stored = await session.get(Breach, uuid.UUID(breach_id))
        assert stored is not None
        assert stored.subject_notices == 23

    # The storefront delivers one; the page and the outbox count it.
    shop_token = await issue("storefront", "desk-shop")
    pending = await client.get("/v1/notifications", headers=shop_token.headers)
    first_notice = pending.json()["items"][0]["id"]
    ack = await client.post(f"/v1/notifications/{first_notice}/ack", headers=shop_token.headers)
    assert ack.status_code == 200
    page = await client.get(f"/console/breaches/{breach_id}")
    assert "22 đang chờ giao" in page.text
    assert "1 đã giao" in page.text

    # Sent again from a new drawn form: nothing added, one more event (as the API's re-run).
    r = await post_form(client, action, fields_of(page.text, action))
    assert r.status_code == 303
    assert await count(app, Notification) == 23
    assert len(await access_events(app, action="breach.notify_subjects")) == 2


async def test_while_a_fanout_runs_the_page_refreshes_itself_and_no_second_starts(
    app: Any, client: httpx.AsyncClient, dpo: Issued, console_sign_in: SignIn
) -> None:
    from pdvault.console.breachdesk import fanout_runs

    await console_sign_in(dpo.token)
    breach_id = await record(client, (await client.get("/console/breaches/new")).text)
    page = await client.get(f"/console/breaches/{breach_id}")
    action = f"/console/breaches/{breach_id}/subject-notifications"
    form = fields_of(page.text, action)
    run = fanout_runs(app.state).begin(uuid.UUID(breach_id))  # as a run in progress holds it
    assert run is not None
    page = await client.get(f"/console/breaches/{breach_id}")
    assert page.headers["refresh"] == "2"
    assert "tự làm mới sau mỗi 2 giây" in page.text
    assert action not in page.text  # no button while it runs
    r = await post_form(client, action, form)
    assert r.status_code == 303
    assert await access_events(app, action="breach.notify_subjects") == []
    run.running = False
    page = await client.get(f"/console/breaches/{breach_id}")
    assert "Refresh" not in page.headers
    assert "Việc gửi chưa xong" in page.text  # started, nothing queued, not finished


async def test_the_outbox_shows_breach_notices_by_state_and_breach_without_customer_ids(
    app: Any, client: httpx.AsyncClient, dpo: Issued, issue: TokenFactory, console_sign_in: SignIn
) -> None:
    customers = await bulk_customers(app, 60)
    await console_sign_in(dpo.token)
    new = (await client.get("/console/breaches/new")).text
    one = await record(client, new)
    other = await record(
        client,
        (await client.get("/console/breaches/new")).text,
        scope="named",
        customer_ids=str(customers[0]),
    )
    for breach_id in (one, other):
        page = await client.get(f"/console/breaches/{breach_id}")
        action = f"/console/breaches/{breach_id}/subject-notifications"
        assert (await post_form(client, action, fields_of(page.text, action))).status_code == 303

    shop_token = await issue("storefront", "desk-shop")
    pending = await client.get("/v1/notifications", headers=shop_token.headers)
    delivered = pending.json()["items"][0]["id"]
    await client.post(f"/v1/notifications/{delivered}/ack", headers=shop_token.headers)

    r = await client.get("/console/outbox")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert r.text.count("<tr>") == 1 + 50
    assert 'rel="next"' in r.text
    assert all(str(c) not in r.text for c in customers)  # no customer id on the page
    nxt = re.search(r'href="([^"]+)" rel="next"', r.text)
    assert nxt
    rest = await client.get(nxt.group(1).replace("&amp;", "&"))
    assert rest.text.count("<tr>") == 1 + 11

    r = await client.get("/console/outbox", params={"breach": other})
    assert r.text.count("<tr>") == 2
    [event] = await access_events(app, action="breach.list", basis=f"breach:{other}")
    assert event["outcome"] == "allowed"
    assert event["customer_id"] is None
    r = await client.get("/console/outbox", params={"state": "delivered"})
    assert r.text.count("<tr>") == 2
    assert delivered in r.text
    r = await client.get("/console/outbox", params={"state": "pending", "breach": one})
    assert delivered not in r.text

    bad = await client.get("/console/outbox", params={"breach": "0912345678"})
    assert bad.status_code == 422
    assert 'id="breach-error">Không phải mã sự cố.' in bad.text


async def test_an_auditor_reads_without_forms_and_is_refused_every_action(
    app: Any, client: httpx.AsyncClient, dpo: Issued, issue: TokenFactory, console_sign_in: SignIn
) -> None:
    await console_sign_in(dpo.token)
    breach_id = await record(client, (await client.get("/console/breaches/new")).text)
    page = (await client.get(f"/console/breaches/{breach_id}")).text
    forms = {
        "/console/breaches": breach_form(),
        f"/console/breaches/{breach_id}/authority-notification": {
            "notified_at": shop(datetime.now(UTC)),
            "authority": "Cục A",
            "reference": "R-1",
        },
        f"/console/breaches/{breach_id}/subject-notifications": {},
    }
    del page
    await client.post("/console/sign-out", data={}, headers={"Origin": "http://testserver"})
    client.cookies.clear()

    auditor = await issue("auditor", "desk-auditor")
    csrf = await console_sign_in(auditor.token)
    listing = await client.get("/console/breaches")
    assert listing.status_code == 200
    assert "/console/breaches/new" not in listing.text
    page = await client.get(f"/console/breaches/{breach_id}")
    assert page.status_code == 200
    assert 'name="once"' not in page.text  # read-only
    assert (await client.get("/console/outbox")).status_code == 200
    assert (await client.get("/console/breaches/new")).status_code == 403
    for action, data in forms.items():
        r = await post_form(client, action, {"csrf": csrf, "once": "x", **data})
        assert r.status_code == 403, action
    denied = [e for e in await access_events(app, outcome="denied") if e["role"] == "auditor"]
    assert [e["action"] for e in denied] == [
        "breach.record",
        "breach.record",
        "breach.notify_authority",
        "breach.notify_subjects",
    ]
    assert await count(app, Breach) == 1
    assert await count(app, Notification) == 0


@pytest.mark.parametrize("role", ["employee", "legal", "admin"])
async def test_roles_the_api_refuses_get_403_on_every_page(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory, console_sign_in: SignIn, role: str
) -> None:
    who = await issue(role, f"desk-{role}")
    await console_sign_in(who.token)
    breach = uuid.uuid4()
    for path in ("/console/breaches", f"/console/breaches/{breach}", "/console/outbox"):
        r = await client.get(path)
        assert r.status_code == 403, path
    home = await client.get("/console/")
    assert "/console/breaches" not in home.text
    api = await client.get("/v1/breaches", headers=who.headers)
    assert api.status_code == 403
    denied = await access_events(app, outcome="denied")
    assert [e["action"] for e in denied] == [
        "breach.list",
        "breach.read",
        "breach.list",
        "breach.list",
    ]


async def test_every_post_without_its_csrf_token_is_refused_and_changes_nothing(
    app: Any, client: httpx.AsyncClient, dpo: Issued, console_sign_in: SignIn
) -> None:
    await bulk_customers(app, 2)
    await console_sign_in(dpo.token)
    breach_id = await record(client, (await client.get("/console/breaches/new")).text)
    for action, data in {
        "/console/breaches": breach_form(),
        f"/console/breaches/{breach_id}/authority-notification": {
            "notified_at": shop(datetime.now(UTC)),
            "authority": "Cục A",
            "reference": "R-1",
        },
        f"/console/breaches/{breach_id}/subject-notifications": {},
    }.items():
        r = await post_form(client, action, {"once": "k", **data})
        assert r.status_code == 403, action
    assert await count(app, Breach) == 1
    assert await count(app, Notification) == 0
    assert await access_events(app, action="breach.notify_authority") == []
    assert await access_events(app, action="breach.notify_subjects") == []


async def test_the_register_pages_and_filters_overdue(
    app: Any, client: httpx.AsyncClient, dpo: Issued, console_sign_in: SignIn
) -> None:
    await console_sign_in(dpo.token)
    ids = [await record(client, (await client.get("/console/breaches/new")).text) for _ in range(3)]
    past = datetime.now(UTC) - timedelta(hours=100)
    await set_breach(app, ids[0], detected_at=past, authority_due_at=past + timedelta(hours=72))
    r = await client.get("/console/breaches", params={"overdue": "yes"})
    assert r.status_code == 200
    assert ids[0] in r.text
    assert ids[1] not in r.text
    assert "trễ 1 ngày 4 giờ" in r.text
    r = await client.get("/console/breaches", params={"overdue": "no"})
    assert ids[0] not in r.text
    assert ids[1] in r.text
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("pdvault.console.breachdesk_router.PAGE_SIZE", 2)
        r = await client.get("/console/breaches")
        assert r.text.count("<tr>") == 3
        nxt = re.search(r'href="([^"]+)" rel="next"', r.text)
        assert nxt
        rest = await client.get(nxt.group(1).replace("&amp;", "&"))
        assert rest.text.count("<tr>") == 2


@pytest.mark.parametrize(
    ("since_detection", "shown"),
    [
        (timedelta(hours=71, minutes=15), "còn 45 phút"),
        (timedelta(hours=2, minutes=30), "còn 2 ngày 21 giờ"),
        (timedelta(hours=70), "còn 2 giờ 0 phút"),
        (timedelta(hours=73, minutes=20), "trễ 1 giờ 20 phút"),
        (timedelta(days=4, hours=1), "trễ 1 ngày 1 giờ"),
    ],
)
async def test_the_deadline_reads_as_time_left_or_how_late_on_the_consoles_clock(
    app: Any,
    client: httpx.AsyncClient,
    dpo: Issued,
    console_sign_in: SignIn,
    monkeypatch: pytest.MonkeyPatch,
    since_detection: timedelta,
    shown: str,
) -> None:
    clock = FakeClock()  # the console's wall clock, pinned
    monkeypatch.setattr(app.state.console.sessions, "now", clock.now)
    await console_sign_in(dpo.token)
    breach_id = await record(client, (await client.get("/console/breaches/new")).text)
    detected = clock.now() - since_detection
    await set_breach(
        app, breach_id, detected_at=detected, authority_due_at=detected + timedelta(hours=72)
    )
    page = await client.get(f"/console/breaches/{breach_id}")
    assert re.search(
        rf'<p class="deadline deadline-\w+"><span class="tag[^"]*">{shown}<', page.text
    )
    listing = await client.get("/console/breaches")
    assert shown in listing.text


async def test_the_progress_read_while_the_batches_run_is_the_outboxs_real_count(
    app: Any,
    client: httpx.AsyncClient,
    dpo: Issued,
    console_sign_in: SignIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pdvault.governance.breaches import BreachService

    app.state.runtime.settings.breach_fanout_batch = 7
    await bulk_customers(app, 23)
    await console_sign_in(dpo.token)
    breach_id = await record(client, (await client.get("/console/breaches/new")).text)
    page = await client.get(f"/console/breaches/{breach_id}")
    action = f"/console/breaches/{breach_id}/subject-notifications"
    original = BreachService.fanout_batch
    during: list[httpx.Response] = []

    async def batch_then_look(self: Any, b: Any, after: Any, size: int) -> Any:
        # Two batches committed, the third not begun: the page, read now. (Not before the
        # first: the run's first transaction, which read the breach, holds SQLite's lock.)
        if after is not None and not during and await count(app, Notification) == 14:
            during.append(await client.get(f"/console/breaches/{breach_id}"))
        return await original(self, b, after, size)

    monkeypatch.setattr(BreachService, "fanout_batch", batch_then_look)
    r = await post_form(client, action, fields_of(page.text, action))
    assert r.status_code == 303
    [mid] = during
    assert mid.headers["refresh"] == "2"
    assert '<progress id="fanout" max="23" value="14">' in mid.text
    assert "14 trên 23 đã vào hộp thư đi" in mid.text
    after = await client.get(f"/console/breaches/{breach_id}")
    assert '<progress id="fanout" max="23" value="23">' in after.text


async def test_a_fanout_that_stops_part_way_says_so_and_sending_again_adds_the_rest(
    app: Any,
    client: httpx.AsyncClient,
    dpo: Issued,
    console_sign_in: SignIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pdvault.governance.breaches import BreachService

    app.state.runtime.settings.breach_fanout_batch = 5
    await bulk_customers(app, 12)
    await console_sign_in(dpo.token)
    breach_id = await record(client, (await client.get("/console/breaches/new")).text)
    page = await client.get(f"/console/breaches/{breach_id}")
    action = f"/console/breaches/{breach_id}/subject-notifications"
    original = BreachService.fanout_batch

    async def fail_after_the_first(self: Any, b: Any, after: Any, size: int) -> Any:
        if after is not None:
            raise RuntimeError("the database went away")
        return await original(self, b, after, size)

    monkeypatch.setattr(BreachService, "fanout_batch", fail_after_the_first)
    r = await post_form(client, action, fields_of(page.text, action))
    assert r.status_code == 303
    page = await client.get(f"/console/breaches/{breach_id}")
    assert '<progress id="fanout" max="12" value="5">' in page.text
    assert "Việc gửi đã dừng giữa chừng" in page.text
    assert "Refresh" not in page.headers

    monkeypatch.setattr(BreachService, "fanout_batch", original)
    r = await post_form(client, action, fields_of(page.text, action))
    assert r.status_code == 303
    page = await client.get(f"/console/breaches/{breach_id}")
    assert '<progress id="fanout" max="12" value="12">' in page.text
    assert "Mọi thông báo đã vào hộp thư đi" in page.text
    assert await count(app, Notification) == 12


async def test_a_fanout_stopped_by_the_database_logs_no_statement_parameters(
    app: Any,
    client: httpx.AsyncClient,
    dpo: Issued,
    console_sign_in: SignIn,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from sqlalchemy.exc import OperationalError

    from pdvault.governance.breaches import BreachService

    [customer] = await bulk_customers(app, 1)
    await console_sign_in(dpo.token)
    breach_id = await record(client, (await client.get("/console/breaches/new")).text)
    page = await client.get(f"/console/breaches/{breach_id}")
    action = f"/console/breaches/{breach_id}/subject-notifications"

    async def database_fails(self: Any, b: Any, after: Any, size: int) -> Any:
        raise OperationalError("INSERT INTO notifications", {"customer_id": str(customer)}, None)

    monkeypatch.setattr(BreachService, "fanout_batch", database_fails)
    with caplog.at_level("ERROR", logger="pdvault.console.breachdesk"):
        r = await post_form(client, action, fields_of(page.text, action))
    assert r.status_code == 303
    [stopped] = [x for x in caplog.records if x.getMessage() == "breach fan-out stopped"]
    assert not stopped.exc_info
    assert getattr(stopped, "error", None) == "OperationalError"
    assert str(customer) not in caplog.text
    page = await client.get(f"/console/breaches/{breach_id}")
    assert "Việc gửi đã dừng giữa chừng" in page.text
