"""Faults: a database that is down gives 503 problems; an access event that cannot be written
means 503 and no data (fail closed)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from pdvault.auth.tokens import new_token
from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring
from pdvault.crypto.provider import LocalKeyProvider
from pdvault.customers.models import Customer
from pdvault.main import create_app
from tests.conftest import Issued, TokenFactory, access_events, customer_body
from tests.helpers import free_port

PROBLEM = "application/problem+json"


def assert_503(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == 503
    assert "Traceback" not in r.text
    assert r.headers["x-request-id"]
    return body


# -- (a) the database is down -------------------------------------------------------------


def _down_urls(tmp_path: Path) -> list[str]:
    return [
        f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nope",
        f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'pdvault.sqlite3'}",
    ]


@pytest.fixture(params=["postgresql-closed-port", "sqlite-missing-dir"])
async def down_client(
    request: pytest.FixtureRequest, keyring: Keyring, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose database cannot be reached (built here: runs once, not per engine)."""
    url = _down_urls(tmp_path)[request.param_index]
    settings = Settings(
        database_url=url,
        data_dir=tmp_path / "data",
        _env_file=None,  # type: ignore[call-arg]
    )
    application = create_app(settings, LocalKeyProvider(keyring))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_database_down_gives_503(down_client: httpx.AsyncClient) -> None:
    r = await down_client.get("/healthz")
    assert r.status_code == 200  # the process itself is alive

    assert_503(await down_client.get("/readyz"))

    headers = {"Authorization": f"Bearer {new_token()}"}
    r = await down_client.get(
        f"/v1/customers/{uuid.uuid4()}", params={"purpose": "order_confirmation"}, headers=headers
    )
    assert_503(r)
    assert r.headers["retry-after"].isdigit()
    for word in ("asyncpg", "sqlite", "OperationalError", "Connect", "127.0.0.1", "nope"):
        assert word not in r.text, word

    r = await down_client.post("/v1/customers", json=customer_body(), headers=headers)
    assert_503(r)
    assert "Nguyễn" not in r.text
    r = await down_client.post(
        "/v1/customers/search",
        json={"email": "khach@example.com", "purpose": "order_confirmation"},
        headers=headers,
    )
    assert_503(r)
    assert "khach@example.com" not in r.text
    assert_503(await down_client.get("/v1/principals", headers=headers))

    # Anonymous callers are refused without touching the database.
    r = await down_client.get(f"/v1/customers/{uuid.uuid4()}")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith(PROBLEM)


# -- (b) fail closed: the access event cannot be written ----------------------------------


async def _execute(database_url: str, statements: list[str]) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            for sql in statements:
                await conn.execute(text(sql))
    finally:
        await engine.dispose()


def _block_sql(engine_name: str) -> list[str]:
    if engine_name == "sqlite":
        return [
            "CREATE TRIGGER block_events BEFORE INSERT ON access_events "
            "BEGIN SELECT RAISE(ABORT, 'blocked'); END"
        ]
    return [
        "CREATE FUNCTION block_events() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'blocked'; END $$",
        "CREATE TRIGGER block_events BEFORE INSERT ON access_events "
        "FOR EACH ROW EXECUTE FUNCTION block_events()",
    ]


def _unblock_sql(engine_name: str) -> list[str]:
    if engine_name == "sqlite":
        return ["DROP TRIGGER IF EXISTS block_events"]
    return [
        "DROP TRIGGER IF EXISTS block_events ON access_events",
        "DROP FUNCTION IF EXISTS block_events()",
    ]


@pytest.fixture
async def blocked_events(database_url: str, engine_name: str) -> AsyncIterator[Any]:
    """Call the returned coroutine to make every access-event INSERT fail until teardown."""

    async def block() -> None:
        await _execute(database_url, _block_sql(engine_name))

    try:
        yield block
    finally:
        await _execute(database_url, _unblock_sql(engine_name))


async def _customer_count(app: Any) -> int:
    async with app.state.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Customer)) or 0)


async def test_fail_closed_when_events_cannot_be_written(
    client: httpx.AsyncClient,
    issue: TokenFactory,
    app: Any,
    blocked_events: Any,
) -> None:
    shop = await issue("storefront")
    employee = await issue("employee")
    body = customer_body(full_name="Phạm Thị Kín", address="Số 7 Ngõ Đóng, Hà Nội")
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    read = {"purpose": "order_confirmation"}
    r = await client.get(f"/v1/customers/{cid}", params=read, headers=employee.headers)
    assert r.status_code == 200  # works before the fault
    events_before = len(await access_events(app))
    customers_before = await _customer_count(app)

    await blocked_events()

    values = [
        body["full_name"],
        body["email"],
        body["phone"],
        "+84" + body["phone"][1:],
        body["address"],
        "Kín",
        "Ngõ Đóng",
    ]

    def assert_no_values(r: httpx.Response) -> None:
        for value in values:
            assert value not in r.text, value
        assert "blocked" not in r.text
        assert "etag" not in r.headers

    r = await client.get(f"/v1/customers/{cid}", params=read, headers=employee.headers)
    assert_503(r)
    assert_no_values(r)

    r = await client.get(
        f"/v1/customers/{cid}",
        params={**read, "fields": "full_name"},
        headers=employee.headers,
    )
    assert_503(r)
    assert_no_values(r)

    r = await client.post(
        "/v1/customers/search",
        json={"email": body["email"], "purpose": "order_confirmation"},
        headers=employee.headers,
    )
    assert_503(r)
    assert_no_values(r)

    r = await client.post(
        "/v1/customers/search",
        json={"phone": body["phone"], "purpose": "order_confirmation"},
        headers=employee.headers,
    )
    assert_503(r)
    assert_no_values(r)

    fresh = customer_body(full_name="Đỗ Văn Mới")
    r = await client.post("/v1/customers", json=fresh, headers=shop.headers)
    assert_503(r)
    assert "Đỗ Văn Mới" not in r.text
    assert await _customer_count(app) == customers_before

    # A denial is an access too: it cannot be logged, so it is not answered either.
    r = await client.get(
        f"/v1/customers/{cid}", params={"purpose": "marketing"}, headers=shop.headers
    )
    assert_503(r)
    assert_no_values(r)

    assert len(await access_events(app)) == events_before


async def test_fail_closed_recovers(
    client: httpx.AsyncClient,
    issue: TokenFactory,
    app: Any,
    database_url: str,
    engine_name: str,
    blocked_events: Any,
) -> None:
    employee = await issue("employee")
    shop: Issued = await issue("storefront")
    r = await client.post("/v1/customers", json=customer_body(), headers=shop.headers)
    cid = r.json()["id"]
    await blocked_events()
    r = await client.get(
        f"/v1/customers/{cid}", params={"purpose": "order_confirmation"}, headers=employee.headers
    )
    assert_503(r)
    await _execute(database_url, _unblock_sql(engine_name))
    r = await client.get(
        f"/v1/customers/{cid}", params={"purpose": "order_confirmation"}, headers=employee.headers
    )
    assert r.status_code == 200, r.text
    events = await access_events(app, principal_id=employee.principal_id, customer_id=cid)
    assert [e["outcome"] for e in events] == ["allowed"]
