"""Idempotency-Key on POST /v1/customers and /v1/customers/batch."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Issued, TokenFactory, customer_body
from tests.customers.conftest import count_customers, customer_events, names_field
from tests.helpers import assert_problem


def _key(value: str, who: Issued) -> dict[str, str]:
    return {**who.headers, "Idempotency-Key": value}


async def test_replay_returns_the_first_response(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    body = customer_body()
    first = await client.post("/v1/customers", json=body, headers=_key("dang-ky-001", shop))
    assert first.status_code == 201, first.text
    second = await client.post("/v1/customers", json=body, headers=_key("dang-ky-001", shop))
    assert second.status_code == 201, second.text
    assert second.json() == first.json()
    assert second.content == first.content
    assert await count_customers(app) == 1
    assert len(await customer_events(app, action="customer.create", outcome="allowed")) == 1


async def test_replay_with_equivalent_spelling_is_the_same_request(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    body = customer_body(phone="0935 111 222")
    first = await client.post("/v1/customers", json=body, headers=_key("k-equiv", shop))
    assert first.status_code == 201, first.text
    again = {**body, "phone": "+84 935 111 222"}
    second = await client.post("/v1/customers", json=again, headers=_key("k-equiv", shop))
    assert second.status_code == 201, second.text
    assert second.json() == first.json()
    assert await count_customers(app) == 1


async def test_without_key_a_repeat_is_a_duplicate(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    body = customer_body()
    first = await client.post("/v1/customers", json=body, headers=shop.headers)
    assert first.status_code == 201
    second = await client.post("/v1/customers", json=body, headers=shop.headers)
    problem = assert_problem(second, 409, "duplicate_customer")
    assert problem["existing_id"] == first.json()["id"]


async def test_same_key_other_body_is_422(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    body = customer_body()
    first = await client.post("/v1/customers", json=body, headers=_key("dang-ky-002", shop))
    assert first.status_code == 201, first.text
    other = customer_body()
    r = await client.post("/v1/customers", json=other, headers=_key("dang-ky-002", shop))
    assert_problem(r, 422)
    assert other["email"] not in r.text
    assert await count_customers(app) == 1
    # A refused reuse does not overwrite what the key remembers: the first body still replays.
    again = await client.post("/v1/customers", json=body, headers=_key("dang-ky-002", shop))
    assert again.status_code == 201, again.text
    assert again.json() == first.json()


async def test_same_key_other_principal_is_independent(
    client: httpx.AsyncClient, issue: TokenFactory, app: Any
) -> None:
    shop_a = await issue("storefront", "shop-a")
    shop_b = await issue("storefront", "shop-b")
    a = await client.post("/v1/customers", json=customer_body(), headers=_key("chung", shop_a))
    b = await client.post("/v1/customers", json=customer_body(), headers=_key("chung", shop_b))
    assert a.status_code == b.status_code == 201, (a.text, b.text)
    assert a.json()["id"] != b.json()["id"]
    assert await count_customers(app) == 2
    # Each principal's replay answers with its own first response.
    again = await client.post("/v1/customers", json=customer_body(), headers=_key("chung", shop_a))
    assert_problem(again, 422)


@pytest.mark.parametrize("key", ["co khoang trang", "x" * 300, "khóa-có-dấu", "\t"])
async def test_invalid_key_is_422(
    client: httpx.AsyncClient, shop: Issued, app: Any, key: str
) -> None:
    headers: dict[str, str | bytes] = {**shop.headers, "Idempotency-Key": key.encode("utf-8")}
    r = await client.post("/v1/customers", json=customer_body(), headers=headers)
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, "Idempotency-Key") or names_field(problem, "idempotency-key")
    assert await count_customers(app) == 0


async def test_key_of_255_visible_chars_is_fine(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    r = await client.post("/v1/customers", json=customer_body(), headers=_key("k" * 255, shop))
    assert r.status_code == 201, r.text


async def test_failed_request_does_not_burn_the_key(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    bad = customer_body(consents={"processing": False, "marketing": False})
    r = await client.post("/v1/customers", json=bad, headers=_key("thu-lai", shop))
    assert_problem(r, 422, "consent_required")
    good = customer_body()
    r = await client.post("/v1/customers", json=good, headers=_key("thu-lai", shop))
    assert r.status_code == 201, r.text
    assert await count_customers(app) == 1


# -- batch -----------------------------------------------------------------------------------


async def test_batch_replay(client: httpx.AsyncClient, shop: Issued, app: Any) -> None:
    items = [customer_body(), customer_body(phone="0912 853 98x"), customer_body()]
    first = await client.post(
        "/v1/customers/batch", json={"items": items}, headers=_key("lo-001", shop)
    )
    assert first.status_code == 200, first.text
    second = await client.post(
        "/v1/customers/batch", json={"items": items}, headers=_key("lo-001", shop)
    )
    assert second.status_code == 200, second.text
    assert second.json() == first.json()
    assert [x["status"] for x in second.json()["results"]] == [201, 422, 201]
    assert await count_customers(app) == 2


async def test_batch_same_key_other_items_is_422(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    first = await client.post(
        "/v1/customers/batch", json={"items": [customer_body()]}, headers=_key("lo-002", shop)
    )
    assert first.status_code == 200, first.text
    r = await client.post(
        "/v1/customers/batch",
        json={"items": [customer_body(), customer_body()]},
        headers=_key("lo-002", shop),
    )
    assert_problem(r, 422)
    assert await count_customers(app) == 1


async def test_batch_invalid_key_is_422(client: httpx.AsyncClient, shop: Issued, app: Any) -> None:
    for key in ("co khoang trang", "y" * 300):
        r = await client.post(
            "/v1/customers/batch", json={"items": [customer_body()]}, headers=_key(key, shop)
        )
        assert_problem(r, 422, errors=True)
    assert await count_customers(app) == 0


async def test_batch_keys_per_principal(
    client: httpx.AsyncClient, issue: TokenFactory, app: Any
) -> None:
    shop = await issue("storefront", "shop-batch")
    staff = await issue("employee", "staff-batch")
    for who in (shop, staff):
        r = await client.post(
            "/v1/customers/batch", json={"items": [customer_body()]}, headers=_key("lo-chung", who)
        )
        assert r.status_code == 200, r.text
        assert r.json()["results"][0]["status"] == 201
    assert await count_customers(app) == 2


async def test_single_and_batch_keys_do_not_collide(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    single = await client.post("/v1/customers", json=customer_body(), headers=_key("k", shop))
    assert single.status_code == 201, single.text
    batch = await client.post(
        "/v1/customers/batch", json={"items": [customer_body()]}, headers=_key("k", shop)
    )
    assert batch.status_code == 200, batch.text
    assert batch.json()["results"][0]["status"] == 201
    assert await count_customers(app) == 2
