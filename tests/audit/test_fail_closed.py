"""Fail closed, proven: when the access event cannot be written, a read answers 503 and
discloses nothing; when the write path comes back, the same read works and the log verifies.

The fault here is real, on PostgreSQL: the access_events table locked by another session (the
app's ``lock_timeout`` turns the wait into an error), and the database gone. On SQLite a held
write lock only makes requests wait out the 10 s busy timeout; the event INSERT made to fail
by a trigger is proven on both engines in
``tests/platform/test_faults.py::test_fail_closed_when_events_cannot_be_written`` (not repeated
here), and a database that cannot be reached in its ``test_database_down_gives_503``.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from pdvault.audit.models import AccessEvent
from pdvault.audit.verify import verify_log
from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring
from pdvault.crypto.provider import LocalKeyProvider
from pdvault.customers.models import Customer
from pdvault.main import create_app
from pdvault.migrate import upgrade
from pdvault.policy import Role
from pdvault.principals import service as principals
from pdvault.principals.schemas import PrincipalIn
from tests.conftest import TokenFactory, _pg_admin, customer_body, truncate_all
from tests.helpers import free_port

PROBLEM = "application/problem+json"
READ = {"purpose": "order_confirmation"}
SQLITE_REASON = (
    "PostgreSQL faults; SQLite's is tests/platform/test_faults.py::"
    "test_fail_closed_when_events_cannot_be_written (a trigger makes the event INSERT fail)"
)


@dataclass
class Kept:
    """A customer as sent, and every form of its values that must never leak."""

    id: str
    body: dict[str, Any]

    @property
    def values(self) -> list[str]:
        b = self.body
        digits = "".join(ch for ch in b["phone"] if ch.isdigit())
        return [
            b["full_name"],
            b["email"],
            b["email"].split("@")[0],
            b["phone"],
            digits,
            "+84" + digits[1:],
            b["address"],
            "Khóa Sổ",
        ]


def distinctive() -> dict[str, Any]:
    return customer_body(
        full_name="Hoàng Thị Khóa Bàn",
        email=f"khoa.ban.{secrets.token_hex(4)}@example.com",
        phone=f"0913 {secrets.randbelow(1000):03d} {secrets.randbelow(1000):03d}",
        address="Số 3 Ngõ Khóa Sổ, Phường Mẫu, Hà Nội",
    )


def assert_closed(r: httpx.Response, kept: Kept) -> None:
    """503 problem+json that names nothing of the customer."""
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == 503
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert "etag" not in r.headers
    for value in kept.values:
        assert value not in r.text, value
        assert value.lower() not in r.text.lower(), value
    assert "fields" not in body
    assert "items" not in body


async def _token(app: Any, role: Role, name: str) -> dict[str, str]:
    async with app.state.runtime.sessions() as session:
        principal = await principals.create_principal(session, PrincipalIn(name=name, role=role))
        created = await principals.issue_token(session, principal, 1)
        await session.commit()
    return {"Authorization": f"Bearer {created.token}"}


async def _count(app: Any, model: Any) -> int:
    async with app.state.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def bounded(call: Awaitable[httpx.Response]) -> httpx.Response:
    """A hang guard: a locked table must turn into an answer, never a wait without end."""
    return await asyncio.wait_for(call, timeout=30)


@pytest.fixture
def postgresql_only(engine_name: str) -> None:
    """Tests marked postgresql_only are deselected for SQLite (see tests/conftest.py)."""
    assert engine_name == "postgresql", SQLITE_REASON


@dataclass
class Rig:
    app: Any
    client: httpx.AsyncClient
    shop: dict[str, str]
    staff: dict[str, str]


async def _rig(app: Any) -> AsyncIterator[Rig]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            shop = await _token(app, Role.STOREFRONT, "fail-closed-storefront")
            staff = await _token(app, Role.EMPLOYEE, "fail-closed-employee")
            yield Rig(app, c, shop, staff)


@pytest.fixture
async def locking_rig(
    postgresql_only: None, database_url: str, keyring: Keyring, tmp_path: Path
) -> AsyncIterator[Rig]:
    """An app whose PostgreSQL sessions give up on a lock after 300 ms."""
    await truncate_all(database_url)
    settings = Settings(
        database_url=database_url,
        db_lock_timeout_ms=300,
        data_dir=tmp_path / "data",
        _env_file=None,  # type: ignore[call-arg]
    )
    async for rig in _rig(create_app(settings, LocalKeyProvider(keyring))):
        yield rig


async def _create(rig: Rig) -> Kept:
    body = distinctive()
    r = await rig.client.post("/v1/customers", json=body, headers=rig.shop)
    assert r.status_code == 201, r.text
    return Kept(r.json()["id"], body)


async def _readable(rig: Rig, kept: Kept) -> None:
    """The read works and shows the values: the 503 checks below could fail."""
    r = await rig.client.get(f"/v1/customers/{kept.id}", params=READ, headers=rig.staff)
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["full_name"] == kept.body["full_name"]
    assert kept.body["address"] in r.text


@pytest.mark.postgresql_only
@pytest.mark.parametrize("mode", ["SHARE", "ACCESS EXCLUSIVE"])
async def test_locked_access_log_means_503_and_no_data(
    locking_rig: Rig, database_url: str, keyring: Keyring, mode: str
) -> None:
    """SHARE lets every read of the request through and blocks only the event INSERT; ACCESS
    EXCLUSIVE blocks the table outright. Either way: nothing is disclosed, nothing is kept."""
    rig = locking_rig
    kept = await _create(rig)
    await _readable(rig, kept)
    events_before = await _count(rig.app, AccessEvent)
    customers_before = await _count(rig.app, Customer)

    locker = create_async_engine(database_url)
    try:
        async with locker.begin() as conn:
            await conn.execute(text(f"LOCK TABLE access_events IN {mode} MODE"))
            url = f"/v1/customers/{kept.id}"
            r = await bounded(rig.client.get(url, params=READ, headers=rig.staff))
            assert_closed(r, kept)
            r = await bounded(
                rig.client.get(url, params={**READ, "fields": "full_name"}, headers=rig.staff)
            )
            assert_closed(r, kept)
            for key in ("email", "phone"):
                r = await bounded(
                    rig.client.post(
                        "/v1/customers/search",
                        json={key: kept.body[key], "purpose": "order_confirmation"},
                        headers=rig.staff,
                    )
                )
                assert_closed(r, kept)
            # A refusal is an access too: unlogged, it is not answered either.
            r = await bounded(rig.client.get(url, params=READ, headers=rig.shop))
            assert_closed(r, kept)
            # A registration whose event cannot be written is not kept.
            other = Kept("", distinctive())
            r = await bounded(rig.client.post("/v1/customers", json=other.body, headers=rig.shop))
            assert_closed(r, other)
            assert await _count(rig.app, Customer) == customers_before
    finally:
        await locker.dispose()

    assert await _count(rig.app, AccessEvent) == events_before
    # The lock released, the same read works again, logged once, and the log verifies.
    r = await rig.client.get(f"/v1/customers/{kept.id}", params=READ, headers=rig.staff)
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["email"] == kept.body["email"]
    assert await _count(rig.app, AccessEvent) == events_before + 1
    result = await verify_log(
        rig.app.state.runtime.engine, rig.app.state.runtime.audit.signer.public_raw
    )
    assert result.ok, result
    assert result.checked == events_before + 1


async def test_database_unreachable_means_503_and_no_data(
    client: httpx.AsyncClient,
    issue: TokenFactory,
    keyring: Keyring,
    tmp_path: Path,
) -> None:
    """The customer exists (made through app A); app B, same keys, finds its database gone."""
    shop = await issue("storefront")
    staff = await issue("employee")
    body = distinctive()
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    assert r.status_code == 201, r.text
    kept = Kept(r.json()["id"], body)
    r = await client.get(f"/v1/customers/{kept.id}", params=READ, headers=staff.headers)
    assert r.status_code == 200, r.text

    settings = Settings(
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/gone",
        data_dir=tmp_path / "b",
        _env_file=None,  # type: ignore[call-arg]
    )
    app_b = create_app(settings, LocalKeyProvider(keyring))
    async with app_b.router.lifespan_context(app_b):
        transport = httpx.ASGITransport(app=app_b)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as b:
            r = await bounded(b.get(f"/v1/customers/{kept.id}", params=READ, headers=staff.headers))
            assert_closed(r, kept)
            r = await bounded(
                b.post(
                    "/v1/customers/search",
                    json={"email": body["email"], "purpose": "order_confirmation"},
                    headers=staff.headers,
                )
            )
            assert_closed(r, kept)
            r = await bounded(b.get("/readyz"))
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith(PROBLEM)


@pytest.mark.postgresql_only
async def test_database_dropped_mid_run_means_503_and_no_data(
    postgresql_only: None, database_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    """A database of its own, dropped (connections and all) while the app is serving."""
    name = f"pdvault_gone_{uuid.uuid4().hex[:8]}"
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    await _pg_admin(database_url, f'CREATE DATABASE "{name}"')
    try:
        await asyncio.to_thread(upgrade, url)
        settings = Settings(
            database_url=url,
            data_dir=tmp_path / "data",
            _env_file=None,  # type: ignore[call-arg]
        )
        async for rig in _rig(create_app(settings, LocalKeyProvider(keyring))):
            kept = await _create(rig)
            await _readable(rig, kept)
            await _pg_admin(database_url, f'DROP DATABASE "{name}" WITH (FORCE)')
            for _ in range(2):  # the pooled connection that died, then a new one that fails
                r = await bounded(
                    rig.client.get(f"/v1/customers/{kept.id}", params=READ, headers=rig.staff)
                )
                assert_closed(r, kept)
            r = await bounded(
                rig.client.post(
                    "/v1/customers/search",
                    json={"email": kept.body["email"], "purpose": "order_confirmation"},
                    headers=rig.staff,
                )
            )
            assert_closed(r, kept)
            r = await bounded(rig.client.get("/readyz"))
            assert r.status_code == 503, r.text
    finally:
        await _pg_admin(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
