"""Reads' events are group-committed by the log writers (audit/batch.py): every read's event
is committed before its answer, concurrent reads share commits, the chains still verify, and a
batch that cannot be committed refuses every read waiting on it (503, no data) while the
writers carry on once the fault is gone."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from pdvault.audit.verify import verify_log
from tests.conftest import TokenFactory, access_events, customer_body

READ = {"purpose": "order_confirmation"}
PROBLEM = "application/problem+json"


async def _rename(database_url: str, old: str, new: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))
    finally:
        await engine.dispose()


async def test_concurrent_reads_share_commits_and_every_event_lands(
    client: httpx.AsyncClient, issue: TokenFactory, app: Any, make_customer: Any
) -> None:
    employee = await issue("employee")
    ids = [await make_customer() for _ in range(5)]
    batcher = app.state.runtime.audit.batcher
    before = batcher.batches

    async def read(n: int) -> httpx.Response:
        return await client.get(
            f"/v1/customers/{ids[n % 5]}", params=READ, headers=employee.headers
        )

    responses = await asyncio.gather(*(read(n) for n in range(40)))
    assert [r.status_code for r in responses] == [200] * 40
    logged = {e["request_id"]: e for e in await access_events(app, action="customer.read")}
    for r in responses:
        event = logged[r.headers["x-request-id"]]
        assert event["outcome"] == "allowed"
        assert str(event["customer_id"]) == r.json()["id"]
    committed = batcher.batches - before
    assert 1 <= committed < 40  # shared commits, not one per read
    assert batcher.largest > 1

    runtime = app.state.runtime
    result = await verify_log(runtime.engine, runtime.audit.signer.public_raw)
    assert result.ok, result.problem


async def test_a_search_goes_through_the_writers(
    client: httpx.AsyncClient, issue: TokenFactory, app: Any
) -> None:
    shop, employee = await issue("storefront"), await issue("employee")
    body = customer_body()
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    assert r.status_code == 201, r.text
    batcher = app.state.runtime.audit.batcher
    before = batcher.batches
    r = await client.post(
        "/v1/customers/search", json={"email": body["email"], **READ}, headers=employee.headers
    )
    assert r.status_code == 200, r.text
    assert batcher.batches == before + 1
    events = await access_events(app, request_id=r.headers["x-request-id"])
    assert [e["action"] for e in events] == ["customer.search"]


async def test_a_batch_that_cannot_commit_refuses_its_reads_and_the_writers_recover(
    client: httpx.AsyncClient,
    issue: TokenFactory,
    app: Any,
    database_url: str,
) -> None:
    employee, shop = await issue("employee"), await issue("storefront")
    body = customer_body(full_name="Trịnh Thị Lô Gộp", address="Số 9 Ngõ Gộp Lô, Hà Nội")
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    path = f"/v1/customers/{cid}"
    assert (await client.get(path, params=READ, headers=employee.headers)).status_code == 200
    events_before = len(await access_events(app))

    await _rename(database_url, "access_events", "access_events_away")
    try:
        responses = await asyncio.gather(
            *(client.get(path, params=READ, headers=employee.headers) for _ in range(12))
        )
    finally:
        await _rename(database_url, "access_events_away", "access_events")
    for r in responses:
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith(PROBLEM)
        for value in (body["full_name"], body["email"], body["address"], "Lô Gộp"):
            assert value not in r.text
    assert len(await access_events(app)) == events_before

    r = await client.get(path, params=READ, headers=employee.headers)
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["full_name"] == body["full_name"]
    runtime = app.state.runtime
    result = await verify_log(runtime.engine, runtime.audit.signer.public_raw)
    assert result.ok, result.problem
