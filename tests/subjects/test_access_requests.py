"""Access requests: the other half of docs/policy.md's ``data_subject_request`` condition ("an open
deletion or access request on this customer")."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Issued, access_events
from tests.customers.conftest import assert_problem
from tests.rights_fixtures import SubjectFactory

REQUESTS = "/v1/access-requests"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def file(client: httpx.AsyncClient, who: Issued, customer_id: str) -> dict[str, Any]:
    r = await client.post(
        REQUESTS, json={"customer_id": customer_id, "channel": "letter"}, headers=who.headers
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_an_open_access_request_lets_the_dpo_export_until_fulfilled(
    client: httpx.AsyncClient, app: Any, subject: SubjectFactory, dpo: Issued
) -> None:
    s = await subject()
    export = f"/v1/customers/{s.id}/export"
    assert_problem(await client.get(export, headers=dpo.headers), 403, "no_open_case")
    req = await file(client, dpo, s.id)
    assert req["status"] == "pending"
    hours = app.state.vault.settings.access_request_deadline_hours
    assert at(req["due_at"]) - at(req["requested_at"]) == timedelta(hours=hours)
    r = await client.get(export, headers=dpo.headers)
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["email"] == s.body["email"]
    read = await client.get(
        f"/v1/customers/{s.id}", params={"purpose": "data_subject_request"}, headers=dpo.headers
    )
    assert read.status_code == 200
    done = await client.post(f"{REQUESTS}/{req['id']}/fulfil", headers=dpo.headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "fulfilled"
    assert_problem(await client.get(export, headers=dpo.headers), 403, "no_open_case")
    bases = [
        e["basis"]
        for e in await access_events(app, customer_id=s.id, action="customer.export")
        if e["outcome"] == "allowed"
    ]
    assert bases == [f"access_request:{req['id']}"]


async def test_decisions_only_from_pending(
    client: httpx.AsyncClient, subject: SubjectFactory, shop: Issued, dpo: Issued, auditor: Issued
) -> None:
    a, b = await subject(), await subject()
    ra, rb = await file(client, shop, a.id), await file(client, dpo, b.id)
    assert_problem(await file_again(client, shop, a.id), 409, "request_pending")
    r = await client.post(
        f"{REQUESTS}/{rb['id']}/reject", json={"reason": "Mẫu"}, headers=dpo.headers
    )
    assert r.json()["status"] == "rejected"
    assert r.json()["rejection_reason"] == "Mẫu"
    assert (
        await client.post(f"{REQUESTS}/{ra['id']}/fulfil", headers=dpo.headers)
    ).status_code == 200
    for rid in (ra["id"], rb["id"]):
        assert_problem(
            await client.post(f"{REQUESTS}/{rid}/fulfil", headers=dpo.headers),
            409,
            "invalid_transition",
        )
    listed = (await client.get(REQUESTS, headers=auditor.headers)).json()["items"]
    assert [(i["id"], i["status"]) for i in listed] == [
        (ra["id"], "fulfilled"),
        (rb["id"], "rejected"),
    ]
    one = await client.get(f"{REQUESTS}/{ra['id']}", headers=auditor.headers)
    assert one.json()["status"] == "fulfilled"
    assert_problem(await client.post(f"{REQUESTS}/{ra['id']}/fulfil", headers=auditor.headers), 403)
    assert_problem(
        await client.get(REQUESTS, params={"overdue": "maybe"}, headers=dpo.headers), 422
    )


async def file_again(client: httpx.AsyncClient, who: Issued, customer_id: str) -> httpx.Response:
    return await client.post(
        REQUESTS, json={"customer_id": customer_id, "channel": "hotline"}, headers=who.headers
    )
