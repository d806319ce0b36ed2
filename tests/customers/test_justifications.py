"""Issue 14.8: the justification of a special_case_support read is kept (sealed under the
customer's data key, linked to the read's access event), shown to the auditor and the dpo
(each showing logged), and shredded with the customer."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import select

from pdvault.customers.models import AccessJustification
from tests.conftest import Issued, TokenFactory, access_events, customer_body
from tests.helpers import assert_problem

WHY = "Khách gọi tổng đài về đơn HT-0042 giao nhầm địa chỉ"
PLACE = "/v1/audit/justifications"


async def _customer(client: httpx.AsyncClient, shop: Issued) -> tuple[str, dict[str, Any]]:
    body = customer_body()
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"]), body


async def test_a_special_case_read_keeps_its_justification_sealed_and_linked(
    client: httpx.AsyncClient,
    app: Any,
    shop: Issued,
    staff: Issued,
    dpo: Issued,
    issue: TokenFactory,
) -> None:
    auditor = await issue("auditor", "justification-auditor")
    cid, body = await _customer(client, shop)
    r = await client.get(
        f"/v1/customers/{cid}",
        params={"purpose": "special_case_support"},
        headers={**staff.headers, "X-Justification": quote(WHY)},
    )
    assert r.status_code == 200, r.text
    [event] = await access_events(app, action="customer.read", customer_id=cid)
    assert event["purpose"] == "special_case_support"
    assert event["outcome"] == "allowed"
    async with app.state.runtime.sessions() as session:
        [row] = (await session.scalars(select(AccessJustification))).all()
    assert (row.request_id, str(row.customer_id), row.action) == (
        event["request_id"],
        cid,
        "customer.read",
    )
    assert str(row.principal_id) == staff.principal_id
    assert WHY.encode() not in row.text_ct
    assert b"HT-0042" not in row.text_ct
    for who in (auditor, dpo):
        page = await client.get(PLACE, params={"customer_id": cid}, headers=who.headers)
        assert page.status_code == 200, page.text
        [item] = page.json()["items"]
        assert item["justification"] == WHY
        assert item["request_id"] == event["request_id"]
        assert item["principal_id"] == staff.principal_id
        by_request = await client.get(
            PLACE, params={"request_id": event["request_id"]}, headers=who.headers
        )
        assert [i["id"] for i in by_request.json()["items"]] == [item["id"]]
    # Each showing of the text is itself an access event on that customer (no text in it).
    shown = await access_events(app, action="audit.justifications", customer_id=cid)
    assert len(shown) == 4
    assert {e["role"] for e in shown} == {"auditor", "dpo"}
    assert all(WHY not in str(e) for e in shown)
    for role in ("employee", "storefront", "admin", "legal"):
        who = await issue(role, f"justification-{role}")
        assert_problem(await client.get(PLACE, headers=who.headers), 403)
    assert body["email"] not in page.text


async def test_other_reads_keep_no_justification(
    client: httpx.AsyncClient, app: Any, shop: Issued, staff: Issued, dpo: Issued
) -> None:
    cid, _ = await _customer(client, shop)
    r = await client.get(
        f"/v1/customers/{cid}",
        params={"purpose": "order_confirmation"},
        headers={**staff.headers, "X-Justification": quote(WHY)},
    )
    assert r.status_code == 200, r.text
    r = await client.get(
        f"/v1/customers/{cid}",
        params={"purpose": "special_case_support"},
        headers={**staff.headers, "X-Justification": quote("ngắn")},
    )
    assert_problem(r, 403, "justification_required")
    page = await client.get(PLACE, headers=dpo.headers)
    assert page.json()["items"] == []


async def test_a_special_case_search_keeps_one_per_customer_found(
    client: httpx.AsyncClient, app: Any, shop: Issued, staff: Issued, dpo: Issued
) -> None:
    cid, body = await _customer(client, shop)
    r = await client.post(
        "/v1/customers/search",
        json={"purpose": "special_case_support", "email": body["email"]},
        headers={**staff.headers, "X-Justification": quote(WHY)},
    )
    assert r.status_code == 200, r.text
    [item] = (await client.get(PLACE, headers=dpo.headers)).json()["items"]
    assert (item["customer_id"], item["action"], item["justification"]) == (
        cid,
        "customer.search",
        WHY,
    )


async def test_the_justification_is_shredded_with_the_customer(
    client: httpx.AsyncClient, app: Any, shop: Issued, staff: Issued, dpo: Issued
) -> None:
    cid, _ = await _customer(client, shop)
    r = await client.get(
        f"/v1/customers/{cid}",
        params={"purpose": "special_case_support"},
        headers={**staff.headers, "X-Justification": quote(WHY)},
    )
    assert r.status_code == 200, r.text
    dreqs = "/v1/deletion-requests"
    r = await client.post(
        dreqs, json={"customer_id": cid, "channel": "letter"}, headers=shop.headers
    )
    r = await client.post(f"{dreqs}/{r.json()['id']}/approve", headers=dpo.headers)
    assert r.status_code == 200, r.text
    page = await client.get(PLACE, params={"customer_id": cid}, headers=dpo.headers)
    [item] = page.json()["items"]
    assert item["justification"] is None
    assert item["request_id"]
    assert WHY not in page.text
    assert await access_events(app, action="audit.justifications", customer_id=cid) == []
