"""Concurrent registrations: duplicates are 409s and keyed retries replay, never 503s.

On PostgreSQL these requests really overlap (the unique email index makes the losers wait for
the winner's commit); on SQLite they serialise, and the same outcomes must hold.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import Issued, customer_body
from tests.customers.conftest import count_customers
from tests.helpers import assert_problem

N = 4


async def _all(*calls: Any) -> list[httpx.Response]:
    return list(await asyncio.gather(*calls))


async def test_keyed_retries_in_flight_replay(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    for round_ in range(3):
        body = customer_body()
        headers = {**shop.headers, "Idempotency-Key": f"dua-{round_}"}
        rs = await _all(
            *(client.post("/v1/customers", json=body, headers=headers) for _ in range(N))
        )
        assert [r.status_code for r in rs] == [201] * N, [r.text for r in rs]
        assert len({r.content for r in rs}) == 1
    assert await count_customers(app) == 3


async def test_unkeyed_duplicates_in_flight_are_409(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    body = customer_body()
    rs = await _all(
        *(client.post("/v1/customers", json=body, headers=shop.headers) for _ in range(N))
    )
    winners = [r for r in rs if r.status_code == 201]
    assert len(winners) == 1, [r.text for r in rs]
    for r in rs:
        if r.status_code != 201:
            problem = assert_problem(r, 409, "duplicate_customer")
            assert problem["existing_id"] == winners[0].json()["id"]
    assert await count_customers(app) == 1


async def test_keyed_batch_retries_in_flight_replay(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    items = [customer_body() for _ in range(5)]
    headers = {**shop.headers, "Idempotency-Key": "lo-dua"}
    rs = await _all(
        *(
            client.post("/v1/customers/batch", json={"items": items}, headers=headers)
            for _ in range(N)
        )
    )
    assert [r.status_code for r in rs] == [200] * N, [r.text[:300] for r in rs]
    assert len({r.content for r in rs}) == 1
    assert [x["status"] for x in rs[0].json()["results"]] == [201] * 5
    assert await count_customers(app) == 5


async def test_overlapping_batches_in_flight(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    shared = [customer_body() for _ in range(3)]
    batches = [[*shared, customer_body()] for _ in range(N)]
    rs = await _all(
        *(
            client.post("/v1/customers/batch", json={"items": b}, headers=shop.headers)
            for b in batches
        )
    )
    assert [r.status_code for r in rs] == [200] * N, [r.text[:300] for r in rs]
    created: dict[int, list[str]] = {i: [] for i in range(4)}
    for r in rs:
        for x in r.json()["results"]:
            if x["status"] == 201:
                created[x["index"]].append(x["id"])
            else:
                assert x["status"] == 409
                assert x["problem"]["reason"] == "duplicate_customer"
    # Each shared email was registered exactly once; every batch's own email was registered.
    for index in range(3):
        assert len(created[index]) == 1
    assert len(created[3]) == N
    assert await count_customers(app) == 3 + N
