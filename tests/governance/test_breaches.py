"""The breach register (R7.2): recording, the 72 h authority deadline and ``overdue``, the
authority notification once, and subject notices into the outbox, once per customer."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from pdvault.governance.models import BreachCustomer
from pdvault.notifications.models import Notification
from tests.conftest import Issued
from tests.governance.conftest import (
    BREACHES,
    ago,
    governance_events,
    iso,
    set_breach,
)
from tests.helpers import assert_problem
from tests.judicial.conftest import mark_erased


def breach_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "detected_at": iso(ago(hours=2)),
        "summary": "Sao lưu mẫu bị truy cập trái phép (ví dụ)",
        "data_categories": ["full_name", "email"],
    }
    body.update(over)
    return body


async def record(client: httpx.AsyncClient, dpo: Issued, **over: Any) -> dict[str, Any]:
    r = await client.post(BREACHES, json=breach_body(**over), headers=dpo.headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def _dt(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_recording_sets_the_authority_deadline_72_hours_after_detection(
    app: Any, client: httpx.AsyncClient, dpo: Issued, make_customer: Any
) -> None:
    a, b = await make_customer(), await make_customer()
    detected = ago(hours=5)
    body = await record(client, dpo, detected_at=iso(detected), customer_ids=[b, a, b])
    assert _dt(body["authority_due_at"]) - _dt(body["detected_at"]) == timedelta(hours=72)
    assert abs(_dt(body["detected_at"]) - detected) < timedelta(milliseconds=1)
    assert body["overdue"] is False
    assert body["authority_notified_at"] is None
    assert body["authority_notified_late"] is None
    assert body["affected_count"] == 2
    assert sorted(body["customer_ids"]) == sorted([a, b])
    assert body["all_customers"] is False
    async with app.state.runtime.sessions() as session:
        stored = (await session.scalars(select(BreachCustomer.customer_id))).all()
    assert sorted(str(c) for c in stored) == sorted([a, b])
    [event] = await governance_events(app, "breach.record")
    assert event["basis"] == f"breach:{body['id']}"
    assert event["outcome"] == "allowed"


async def test_all_customers_counts_the_live_ones(
    app: Any, client: httpx.AsyncClient, dpo: Issued, make_customer: Any
) -> None:
    ids = [await make_customer() for _ in range(3)]
    await mark_erased(app, ids[0])
    body = await record(client, dpo, all_customers=True)
    assert body["all_customers"] is True
    assert body["affected_count"] == 2
    assert body["customer_ids"] is None


@pytest.mark.parametrize(
    ("over", "loc"),
    [
        ({}, "body"),  # neither scope
        ({"all_customers": True, "customer_ids": ["{a}"]}, "body"),  # both
        ({"customer_ids": []}, "customer_ids"),
        ({"all_customers": False}, "body"),
        ({"all_customers": True, "data_categories": []}, "data_categories"),
        ({"all_customers": True, "data_categories": ["passwords"]}, "data_categories"),
        ({"all_customers": True, "detected_at": "2026-11-25T08:00:00"}, "detected_at"),
        ({"all_customers": True, "summary": ""}, "summary"),
    ],
)
async def test_invalid_breaches_are_422(
    client: httpx.AsyncClient,
    dpo: Issued,
    make_customer: Any,
    over: dict[str, Any],
    loc: str,
) -> None:
    a = await make_customer()
    if "customer_ids" in over:
        over = {**over, "customer_ids": [c.format(a=a) for c in over["customer_ids"]]}
    r = await client.post(BREACHES, json=breach_body(**over), headers=dpo.headers)
    body = assert_problem(r, 422)
    assert any(loc in e["loc"] for e in body["errors"]), body


async def test_detection_in_the_future_and_unknown_customers_are_422(
    client: httpx.AsyncClient, dpo: Issued, make_customer: Any
) -> None:
    future = iso(ago(hours=-2))
    r = await client.post(
        BREACHES, json=breach_body(detected_at=future, all_customers=True), headers=dpo.headers
    )
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "detected_at"]
    a = await make_customer()
    ghost = str(uuid.uuid4())
    r = await client.post(BREACHES, json=breach_body(customer_ids=[a, ghost]), headers=dpo.headers)
    assert assert_problem(r, 422)["errors"] == [
        {"loc": ["body", "customer_ids", "1"], "msg": "unknown customer"}
    ]


async def test_overdue_once_72_hours_pass_without_notifying_the_authority(
    app: Any, client: httpx.AsyncClient, dpo: Issued, auditor: Issued
) -> None:
    late = await record(client, dpo, detected_at=iso(ago(hours=73)), all_customers=True)
    fresh = await record(client, dpo, detected_at=iso(ago(hours=71)), all_customers=True)
    got = (await client.get(f"{BREACHES}/{late['id']}", headers=auditor.headers)).json()
    assert got["overdue"] is True
    assert (await client.get(f"{BREACHES}/{fresh['id']}", headers=auditor.headers)).json()[
        "overdue"
    ] is False
    r = await client.get(BREACHES, params={"overdue": "true"}, headers=auditor.headers)
    assert [i["id"] for i in r.json()["items"]] == [late["id"]]
    r = await client.get(BREACHES, params={"overdue": "false"}, headers=dpo.headers)
    assert [i["id"] for i in r.json()["items"]] == [fresh["id"]]

    # Notified late: no longer overdue, but the lateness stays on the record.
    r = await client.post(
        f"{BREACHES}/{late['id']}/authority-notification",
        json={"notified_at": iso(ago(minutes=1)), "authority": "Cục Mẫu", "reference": "TB-1"},
        headers=dpo.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["overdue"] is False
    assert body["authority_notified_late"] is True
    assert (body["authority"], body["authority_reference"]) == ("Cục Mẫu", "TB-1")
    r = await client.post(
        f"{BREACHES}/{fresh['id']}/authority-notification",
        json={"notified_at": iso(ago(minutes=1)), "authority": "Cục Mẫu", "reference": "TB-2"},
        headers=dpo.headers,
    )
    assert r.json()["authority_notified_late"] is False


async def test_the_authority_notification_is_recorded_once(
    app: Any, client: httpx.AsyncClient, dpo: Issued
) -> None:
    b = await record(client, dpo, all_customers=True)
    url = f"{BREACHES}/{b['id']}/authority-notification"
    body = {"notified_at": iso(ago(minutes=5)), "authority": "Cục Mẫu", "reference": "TB-1"}
    assert (await client.post(url, json=body, headers=dpo.headers)).status_code == 200
    second = {**body, "reference": "TB-2"}
    assert_problem(
        await client.post(url, json=second, headers=dpo.headers), 409, "already_notified"
    )
    got = (await client.get(f"{BREACHES}/{b['id']}", headers=dpo.headers)).json()
    assert got["authority_reference"] == "TB-1"
    # Before the detection, or in the future: 422.
    other = await record(client, dpo, all_customers=True)
    url = f"{BREACHES}/{other['id']}/authority-notification"
    early = {**body, "notified_at": iso(ago(hours=10))}
    assert_problem(await client.post(url, json=early, headers=dpo.headers), 422)
    future = {**body, "notified_at": iso(ago(hours=-1))}
    assert_problem(await client.post(url, json=future, headers=dpo.headers), 422)
    unknown = f"{BREACHES}/{uuid.uuid4()}/authority-notification"
    assert_problem(await client.post(unknown, json=body, headers=dpo.headers), 404)
    events = await governance_events(app, "breach.notify_authority")
    assert [(e["outcome"], e["reason"]) for e in events] == [
        ("allowed", None),
        ("denied", "already_notified"),
        ("denied", "not_found"),
    ]


async def test_subject_notices_go_to_the_outbox_once_per_named_customer(
    app: Any, client: httpx.AsyncClient, dpo: Issued, shop: Issued, make_customer: Any
) -> None:
    a, b, erased = await make_customer(), await make_customer(), await make_customer()
    bystander = await make_customer()
    breach = await record(client, dpo, customer_ids=[a, b, erased])
    await mark_erased(app, erased)
    url = f"{BREACHES}/{breach['id']}/subject-notifications"
    r = await client.post(url, headers=dpo.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "breach_id": breach["id"],
        "queued": 2,
        "already_queued": 0,
        "skipped_erased": 1,
        "notices": 2,
    }
    again = (await client.post(url, headers=dpo.headers)).json()
    assert (again["queued"], again["already_queued"], again["notices"]) == (0, 2, 2)

    async with app.state.runtime.sessions() as session:
        notices = (await session.scalars(select(Notification))).all()
    assert sorted(str(n.customer_id) for n in notices) == sorted([a, b])
    for n in notices:
        assert n.kind == "breach_notification"
        assert n.dedupe_key == f"breach:{breach['id']}:{n.customer_id}"
        assert n.data == {
            "breach_id": breach["id"],
            "detected_at": breach["detected_at"],
            "data_categories": ["full_name", "email"],
        }
    # The storefront sees them in its outbox; the bystander has none.
    page = (await client.get("/v1/notifications", headers=shop.headers)).json()
    assert {i["customer_id"] for i in page["items"]} == {a, b}
    assert bystander not in {i["customer_id"] for i in page["items"]}
    got = (await client.get(f"{BREACHES}/{breach['id']}", headers=dpo.headers)).json()
    assert got["subject_notices"] == 2
    assert got["subjects_notified_at"] is not None
    events = await governance_events(app, "breach.notify_subjects")
    assert len(events) == 2
    assert all(e["basis"] == f"breach:{breach['id']}" and e["customer_id"] is None for e in events)


async def test_a_breach_affecting_everyone_notifies_every_live_customer_in_batches(
    app: Any, client: httpx.AsyncClient, dpo: Issued, make_customer: Any
) -> None:
    app.state.runtime.settings.breach_fanout_batch = 2  # several batches, one insert each
    ids = [await make_customer() for _ in range(5)]
    await mark_erased(app, ids[0])
    breach = await record(client, dpo, all_customers=True)
    url = f"{BREACHES}/{breach['id']}/subject-notifications"
    first = (await client.post(url, headers=dpo.headers)).json()
    assert (first["queued"], first["already_queued"], first["notices"]) == (4, 0, 4)
    late_comer = await make_customer()
    second = (await client.post(url, headers=dpo.headers)).json()
    assert (second["queued"], second["already_queued"], second["notices"]) == (1, 4, 5)
    async with app.state.runtime.sessions() as session:
        notified = (await session.scalars(select(Notification.customer_id))).all()
    assert sorted(str(c) for c in notified) == sorted([*ids[1:], late_comer])


async def test_unknown_breach_is_404_and_logged(
    app: Any, client: httpx.AsyncClient, dpo: Issued
) -> None:
    missing = uuid.uuid4()
    assert_problem(await client.get(f"{BREACHES}/{missing}", headers=dpo.headers), 404)
    r = await client.post(f"{BREACHES}/{missing}/subject-notifications", headers=dpo.headers)
    assert_problem(r, 404)
    denied = await governance_events(app, "breach.", outcome="denied")
    assert [(e["action"], e["reason"]) for e in denied] == [
        ("breach.read", "not_found"),
        ("breach.notify_subjects", "not_found"),
    ]


async def test_the_register_lists_and_pages_for_auditors(
    app: Any, client: httpx.AsyncClient, dpo: Issued, auditor: Issued
) -> None:
    made = [(await record(client, dpo, all_customers=True))["id"] for _ in range(3)]
    await set_breach(app, made[0], authority_due_at=ago(hours=1))
    page = (await client.get(BREACHES, params={"limit": 2}, headers=auditor.headers)).json()
    assert [i["id"] for i in page["items"]] == made[:2]
    assert page["items"][0]["overdue"] is True
    rest = (
        await client.get(
            BREACHES, params={"limit": 2, "cursor": page["next_cursor"]}, headers=auditor.headers
        )
    ).json()
    assert [i["id"] for i in rest["items"]] == made[2:]
    assert rest["next_cursor"] is None
    assert len(await governance_events(app, "breach.list")) == 2


@pytest.mark.parametrize(
    "summary",
    [
        "Lộ dữ liệu, ví dụ khach.mau@example.com trong tệp sao lưu",
        "Khách 0912 345 678 bị lộ số điện thoại",
        "Khách +84912345678 bị lộ",
    ],
)
async def test_a_summary_holding_a_contact_value_is_422_naming_only_the_field(
    client: httpx.AsyncClient, dpo: Issued, make_customer: Any, summary: str
) -> None:
    """14.10: the summary, about many people, stays clear text; so it may not hold an email
    address or a phone number. The error names the field, never the value."""
    a = await make_customer()
    r = await client.post(
        BREACHES, json=breach_body(summary=summary, customer_ids=[a]), headers=dpo.headers
    )
    body = assert_problem(r, 422)
    assert any("summary" in e["loc"] for e in body["errors"]), body
    for part in ("khach.mau", "345 678", "912345678"):
        assert part not in r.text
    ok = breach_body(
        summary="Sao lưu của 1,250,000 đơn hàng bị lộ ngày 2026-11-20", customer_ids=[a]
    )
    assert (await client.post(BREACHES, json=ok, headers=dpo.headers)).status_code == 201
