"""An email address matches in any letter case: one person cannot register twice by writing
``Nhung@Example.com`` after ``nhung@example.com``; either spelling finds the customer; the
address is stored and returned as it was given. Existing indexes (computed on the spelling as
given) are rebuilt by ``pdvault migrate``, which names colliding customers by id only."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pdvault.crypto.blind_index import blind_index
from pdvault.customers import sealing
from tests.conftest import Issued, customer_body
from tests.customers.conftest import assert_response_has_no, count_customers
from tests.helpers import assert_problem

SELF = "customer_self_service"
FIRST, SECOND = "nhung@example.com", "Nhung@Example.com"


async def create_with_email(client: httpx.AsyncClient, who: Issued, email: str) -> httpx.Response:
    return await client.post("/v1/customers", json=customer_body(email=email), headers=who.headers)


async def find_email(client: httpx.AsyncClient, who: Issued, email: str) -> list[dict[str, Any]]:
    r = await client.post(
        "/v1/customers/search", json={"email": email, "purpose": SELF}, headers=who.headers
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_other_case_is_the_same_customer_409(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    r = await create_with_email(client, shop, FIRST)
    assert r.status_code == 201, r.text
    first_id = r.json()["id"]
    r = await create_with_email(client, shop, SECOND)
    problem = assert_problem(r, 409, "duplicate_customer")
    assert problem["existing_id"] == first_id
    assert_response_has_no(r, ["nhung", "Nhung"])
    assert await count_customers(app) == 1


async def test_other_case_in_a_batch_is_a_duplicate(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    r = await client.post(
        "/v1/customers/batch",
        json={"items": [customer_body(email=SECOND), customer_body(email="NHUNG@example.COM")]},
        headers=shop.headers,
    )
    assert r.status_code in (200, 207), r.text
    results = r.json()["results"]
    assert [item["status"] for item in results] == [201, 409]
    assert results[1]["problem"]["existing_id"] == results[0]["id"]
    r = await create_with_email(client, shop, FIRST)
    assert_problem(r, 409, "duplicate_customer")
    assert await count_customers(app) == 1


async def test_search_by_either_case_finds_it_and_the_given_case_is_kept(
    client: httpx.AsyncClient, shop: Issued
) -> None:
    r = await create_with_email(client, shop, SECOND)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    for spelling in (FIRST, SECOND, "NHUNG@EXAMPLE.COM"):
        hits = await find_email(client, shop, spelling)
        assert [h["id"] for h in hits] == [cid], spelling
        # Stored as given: the local part keeps its capital; the domain is lower-cased.
        assert hits[0]["fields"]["email"] == "Nhung@example.com"
    r = await client.get(f"/v1/customers/{cid}", params={"purpose": SELF}, headers=shop.headers)
    assert r.json()["fields"]["email"] == "Nhung@example.com"


async def test_update_to_another_customers_email_in_other_case_is_409(
    client: httpx.AsyncClient, shop: Issued
) -> None:
    r = await create_with_email(client, shop, FIRST)
    assert r.status_code == 201, r.text
    first_id = r.json()["id"]
    r = await create_with_email(client, shop, "khac@example.com")
    other = r.json()["id"]
    r = await client.patch(
        f"/v1/customers/{other}",
        params={"purpose": SELF},
        json={"email": SECOND},
        headers={**shop.headers, "If-Match": "*"},
    )
    assert_problem(r, 409, "duplicate_customer")
    # A customer re-spelling their own address in another case is no conflict.
    r = await client.patch(
        f"/v1/customers/{first_id}",
        params={"purpose": SELF},
        json={"email": SECOND},
        headers={**shop.headers, "If-Match": "*"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["email"] == "Nhung@example.com"
    assert [h["id"] for h in await find_email(client, shop, FIRST)] == [first_id]


@pytest.mark.parametrize("email", ["a@example.com", "A.B@Example.COM", "x@bücher.example"])
def test_the_index_is_over_the_lower_cased_address(email: str) -> None:
    key = b"k" * 32

    class Keys:
        def index_key(self) -> bytes:
            return key

    assert sealing.index_of(Keys(), "email", email) == blind_index(key, "email", email.lower())  # type: ignore[arg-type]
