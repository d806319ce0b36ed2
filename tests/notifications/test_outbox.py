"""The notice outbox: the storefront drains it; ``legal_notice`` reads follow it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from pdvault.notifications.models import Notification
from pdvault.notifications.service import enqueue, notice_row
from tests.conftest import Issued, access_events
from tests.helpers import assert_problem
from tests.rights_fixtures import SubjectFactory

OUTBOX = "/v1/notifications"


async def put(
    app: Any, customer_id: str, key: str | None = None, kind: str = "breach_notification"
) -> int:
    async with app.state.runtime.sessions() as session:
        added = await enqueue(
            session, [notice_row(uuid.UUID(customer_id), kind, {"ref": "BR-MAU-1"}, key)]
        )
        await session.commit()
    return added


async def count(app: Any) -> int:
    async with app.state.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Notification)) or 0)


async def test_legal_notice_opens_contact_fields_only_while_a_notice_waits(
    client: httpx.AsyncClient, app: Any, subject: SubjectFactory, shop: Issued, staff: Issued
) -> None:
    s = await subject()
    path, params = f"/v1/customers/{s.id}", {"purpose": "legal_notice"}
    assert_problem(
        await client.get(path, params=params, headers=shop.headers), 403, "no_pending_notice"
    )
    await put(app, s.id)
    for who in (shop, staff):
        r = await client.get(path, params=params, headers=who.headers)
        assert r.status_code == 200, r.text
        assert set(r.json()["fields"]) == {"full_name", "phone", "email"}
    r = await client.get(path, params={**params, "fields": "address"}, headers=shop.headers)
    assert_problem(r, 403, "field_not_permitted")
    [notice] = (await client.get(OUTBOX, headers=shop.headers)).json()["items"]
    assert (
        await client.post(f"{OUTBOX}/{notice['id']}/ack", headers=shop.headers)
    ).status_code == 200
    assert_problem(
        await client.get(path, params=params, headers=shop.headers), 403, "no_pending_notice"
    )
    reasons = [
        e["reason"] for e in await access_events(app, customer_id=s.id, action="customer.read")
    ]
    assert reasons == ["no_pending_notice", None, None, "field_not_permitted", "no_pending_notice"]


async def test_a_notice_for_another_customer_opens_nothing(
    client: httpx.AsyncClient, app: Any, subject: SubjectFactory, shop: Issued
) -> None:
    a, b = await subject(), await subject()
    await put(app, a.id)
    r = await client.get(
        f"/v1/customers/{b.id}", params={"purpose": "legal_notice"}, headers=shop.headers
    )
    assert_problem(r, 403, "no_pending_notice")


async def test_draining_pages_and_acknowledging(
    client: httpx.AsyncClient, app: Any, subject: SubjectFactory, shop: Issued
) -> None:
    s = await subject()
    for _ in range(5):
        await put(app, s.id)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(OUTBOX, params=params, headers=shop.headers)).json()
        seen += [n["id"] for n in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5
    assert seen == sorted(seen)
    first = await client.post(f"{OUTBOX}/{seen[0]}/ack", headers=shop.headers)
    assert first.status_code == 200
    assert first.json()["delivered_at"] is not None
    again = await client.post(f"{OUTBOX}/{seen[0]}/ack", headers=shop.headers)
    assert again.json()["delivered_at"] == first.json()["delivered_at"]
    pending = (await client.get(OUTBOX, headers=shop.headers)).json()["items"]
    assert [n["id"] for n in pending] == seen[1:]
    delivered = (
        await client.get(OUTBOX, params={"status": "delivered"}, headers=shop.headers)
    ).json()
    assert [n["id"] for n in delivered["items"]] == seen[:1]
    everything = (await client.get(OUTBOX, params={"status": "all"}, headers=shop.headers)).json()
    assert len(everything["items"]) == 5
    notice = pending[0]
    assert set(notice) == {"id", "customer_id", "kind", "created_at", "data", "delivered_at"}
    events = await access_events(app, action="notification.ack")
    assert [e["customer_id"] for e in events] == [uuid.UUID(s.id), uuid.UUID(s.id)]


async def test_outbox_refusals(
    client: httpx.AsyncClient,
    app: Any,
    subject: SubjectFactory,
    shop: Issued,
    staff: Issued,
    dpo: Issued,
) -> None:
    s = await subject()
    await put(app, s.id)
    for who in (staff, dpo):
        assert_problem(await client.get(OUTBOX, headers=who.headers), 403, "role_not_permitted")
    [notice] = (await client.get(OUTBOX, headers=shop.headers)).json()["items"]
    assert_problem(await client.post(f"{OUTBOX}/{notice['id']}/ack", headers=staff.headers), 403)
    assert_problem(await client.post(f"{OUTBOX}/{uuid.uuid4()}/ack", headers=shop.headers), 404)
    assert_problem(await client.post(f"{OUTBOX}/not-an-id/ack", headers=shop.headers), 422)
    assert_problem(await client.get(OUTBOX, params={"cursor": "%%%"}, headers=shop.headers), 422)
    assert_problem(await client.get(OUTBOX, params={"status": "lost"}, headers=shop.headers), 422)
    assert_problem(await client.get(OUTBOX), 401)
    still = (await client.get(OUTBOX, headers=shop.headers)).json()["items"]
    assert [n["delivered_at"] for n in still] == [None]


async def test_a_cause_queues_one_notice_however_often_it_runs(
    app: Any, subject: SubjectFactory
) -> None:
    s = await subject()
    assert await put(app, s.id, key="breach:1:" + s.id) == 1
    assert await put(app, s.id, key="breach:1:" + s.id) == 0
    assert await put(app, s.id, key="breach:2:" + s.id) == 1
    assert await put(app, s.id) == 1
    assert await put(app, s.id) == 1  # without a key, nothing is deduplicated
    assert await count(app) == 4
