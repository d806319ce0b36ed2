"""POST /v1/customers/batch: per-item results; one bad item fails only itself."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from pdvault.customers.models import Customer
from tests.conftest import Issued, customer_body
from tests.customers.conftest import (
    RoleFactory,
    assert_response_has_no,
    count_customers,
    customer_events,
    names_field,
)
from tests.helpers import assert_problem


async def _batch(client: httpx.AsyncClient, who: Issued, items: Any) -> httpx.Response:
    return await client.post("/v1/customers/batch", json={"items": items}, headers=who.headers)


async def _ids(app: Any) -> set[str]:
    async with app.state.runtime.sessions() as session:
        return {str(i) for i in (await session.scalars(select(Customer.id))).all()}


async def test_mixed_batch(
    client: httpx.AsyncClient, shop: Issued, staff: Issued, app: Any
) -> None:
    r = await client.post(
        "/v1/customers",
        json=customer_body(email="da.co@example.com"),
        headers=shop.headers,
    )
    assert r.status_code == 201, r.text
    existing = r.json()["id"]

    good = [customer_body(), customer_body(), customer_body()]
    invalid = customer_body(phone="0912 853 98x", email="sai.so@example.com")
    local, _, domain = good[0]["email"].partition("@")
    dup_within = customer_body(email=f"{local}@{domain.upper()}")
    dup_existing = customer_body(email="da.co@EXAMPLE.COM", full_name="Hoàng Thị Trùng")
    items = [good[0], invalid, good[1], dup_within, dup_existing, good[2]]

    r = await _batch(client, staff, items)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["index"] for x in results] == list(range(len(items)))
    assert [x["status"] for x in results] == [201, 422, 201, 409, 409, 201]

    created = [results[i]["id"] for i in (0, 2, 5)]
    assert len(set(created)) == 3
    for i in (0, 2, 5):
        assert "problem" not in results[i]

    bad = results[1]
    assert "id" not in bad
    assert bad["problem"]["status"] == 422
    assert names_field(bad["problem"], "phone"), bad["problem"]

    assert results[3]["problem"]["reason"] == "duplicate_customer"
    assert results[3]["problem"]["existing_id"] == created[0]
    assert results[4]["problem"]["reason"] == "duplicate_customer"
    assert results[4]["problem"]["existing_id"] == existing
    for i in (1, 3, 4):
        for key in ("type", "title", "status", "detail"):
            assert key in results[i]["problem"]

    assert_response_has_no(
        r,
        [
            "0912 853 98x",
            "sai.so",
            "Hoàng Thị Trùng",
            *(g["email"] for g in good),
            *(g["phone"] for g in good),
            "da.co",
        ],
    )
    assert await _ids(app) == {existing, *created}

    # Every created customer is really there, with its own values.
    for i, cid in zip((0, 2, 5), created, strict=True):
        read = await client.get(
            f"/v1/customers/{cid}", params={"purpose": "order_confirmation"}, headers=staff.headers
        )
        assert read.status_code == 200, read.text
        assert read.json()["fields"]["email"] == items[i]["email"]

    allowed = await customer_events(app, action="customer.create", outcome="allowed")
    assert {str(e["customer_id"]) for e in allowed} == {existing, *created}
    assert {e["purpose"] for e in allowed} == {"registration"}
    denied = await customer_events(app, action="customer.create", outcome="denied")
    assert existing in {str(e["customer_id"]) for e in denied}
    assert {e["reason"] for e in denied} == {"duplicate_customer"}


async def test_consent_and_shape_problems_per_item(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    no_consent = customer_body(consents={"processing": False, "marketing": True})
    missing = customer_body()
    del missing["address"]
    extra = customer_body(ghi_chu="bí mật")
    items = [no_consent, missing, extra, customer_body()]
    r = await _batch(client, shop, items)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [422, 422, 422, 201]
    assert results[0]["problem"]["reason"] == "consent_required"
    assert names_field(results[1]["problem"], "address")
    assert names_field(results[2]["problem"], "ghi_chu")
    assert_response_has_no(r, ["bí mật", no_consent["email"], no_consent["phone"]])
    assert await _ids(app) == {results[3]["id"]}


@pytest.mark.parametrize("bad", ["không phải đối tượng", 5, None, ["danh", "sách"]])
async def test_item_that_is_not_an_object_fails_only_itself(
    client: httpx.AsyncClient, shop: Issued, app: Any, bad: object
) -> None:
    """docs/api.md: "one bad item fails only itself", whatever makes it bad."""
    r = await _batch(client, shop, [customer_body(), bad, customer_body()])
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["index"] for x in results] == [0, 1, 2]
    assert [x["status"] for x in results] == [201, 422, 201]
    assert results[1]["problem"]["errors"], results[1]
    assert_response_has_no(r, ["không phải đối tượng", "danh"])
    assert await _ids(app) == {results[0]["id"], results[2]["id"]}


@pytest.mark.parametrize(
    "raw_item",
    [
        b'{"\\udbce\\u00f4": 1}',  # a lone surrogate in a key, as the fuzzer sent it
        b'{"full_name": "\\ud800", "phone": "0912853984"}',  # ... and in a value
        b'{"full_name": -5959204424365605151309824}',  # an integer past 64 bits
    ],
)
@pytest.mark.parametrize("idempotency_key", [None, "lo-mau-0001"])
async def test_item_json_cannot_encode_fails_only_itself(
    client: httpx.AsyncClient,
    shop: Issued,
    app: Any,
    raw_item: bytes,
    idempotency_key: str | None,
) -> None:
    """Found by the fuzzer: JSON that orjson cannot encode (a lone surrogate, a huge integer)
    in one item was a 500 for the whole batch. That item is a 422 naming what it can, the
    others are created, and a replay under the same key answers the same."""
    good = customer_body()
    raw = b'{"items": [' + orjson.dumps(good) + b", " + raw_item + b"]}"
    headers = {**shop.headers, "content-type": "application/json"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    r = await client.post("/v1/customers/batch", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [201, 422]
    assert results[1]["problem"]["errors"], results[1]
    assert "\ud800" not in r.text
    assert await _ids(app) == {results[0]["id"]}
    if idempotency_key is not None:
        again = await client.post("/v1/customers/batch", content=raw, headers=headers)
        assert again.status_code == 200, again.text
        assert again.json() == r.json()
        assert again.headers.get("idempotent-replayed") == "true"
        assert await _ids(app) == {results[0]["id"]}


@pytest.mark.parametrize(
    "bad",
    [
        customer_body(full_name="Nguyễn\x00 Văn Mẫu"),
        {**customer_body(), "ghi\x00chú": "x"},
        customer_body(policy_version="2024\x0001"),
    ],
)
async def test_item_with_nul_fails_only_itself(
    client: httpx.AsyncClient, shop: Issued, app: Any, bad: dict[str, Any]
) -> None:
    """A NUL (U+0000) anywhere else in a body is a 422 for the whole request; in a batch it
    is that item's 422 only (docs/api.md: one bad item fails only itself)."""
    r = await _batch(client, shop, [customer_body(), bad])
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [201, 422]
    assert results[1]["problem"]["errors"], results[1]
    assert await _ids(app) == {results[0]["id"]}


async def test_thousand_items_accepted(client: httpx.AsyncClient, shop: Issued, app: Any) -> None:
    items = [customer_body() for _ in range(1000)]
    r = await _batch(client, shop, items)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 1000
    assert {x["status"] for x in results} == {201}
    assert [x["index"] for x in results] == list(range(1000))
    assert len({x["id"] for x in results}) == 1000
    assert await count_customers(app) == 1000
    assert len(await customer_events(app, action="customer.create", outcome="allowed")) == 1000


async def test_thousand_and_one_items_rejected(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    items = [customer_body() for _ in range(1001)]
    r = await _batch(client, shop, items)
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, "items")
    assert_response_has_no(r, [items[0]["email"], items[1000]["email"]])
    assert await count_customers(app) == 0


@pytest.mark.parametrize("body", [{"items": []}, {}, {"items": {}}, {"items": None}, []])
async def test_empty_or_malformed_batch(
    client: httpx.AsyncClient, shop: Issued, app: Any, body: Any
) -> None:
    r = await client.post("/v1/customers/batch", json=body, headers=shop.headers)
    assert_problem(r, 422, errors=True)
    assert await count_customers(app) == 0


async def test_unknown_top_level_key(client: httpx.AsyncClient, shop: Issued, app: Any) -> None:
    r = await client.post(
        "/v1/customers/batch",
        json={"items": [customer_body()], "ghi_chu": "x"},
        headers=shop.headers,
    )
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, "ghi_chu")
    assert await count_customers(app) == 0


async def test_anonymous_is_401(client: httpx.AsyncClient, app: Any) -> None:
    r = await client.post("/v1/customers/batch", json={"items": [customer_body()]})
    assert_problem(r, 401)
    assert "www-authenticate" in r.headers
    assert await count_customers(app) == 0


@pytest.mark.parametrize("role", ["admin", "partner", "legal", "dpo", "auditor"])
async def test_other_roles_are_403(
    client: httpx.AsyncClient, as_role: RoleFactory, app: Any, role: str
) -> None:
    who = await as_role(role)
    body = customer_body()
    r = await _batch(client, who, [body])
    assert_problem(r, 403, "role_not_permitted")
    assert_response_has_no(r, [body["email"], body["phone"]])
    assert await count_customers(app) == 0
    events = await customer_events(app)
    assert [(e["outcome"], e["reason"], e["role"]) for e in events] == [
        ("denied", "role_not_permitted", role)
    ]


async def test_employee_batch(client: httpx.AsyncClient, staff: Issued, app: Any) -> None:
    r = await _batch(client, staff, [customer_body(), customer_body()])
    assert r.status_code == 200, r.text
    ids = [x["id"] for x in r.json()["results"]]
    for cid in ids:
        uuid.UUID(cid)
    assert await _ids(app) == set(ids)
