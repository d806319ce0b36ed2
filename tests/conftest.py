"""Shared fixtures. Every database test runs on SQLite, and also on PostgreSQL when
``PDVAULT_TEST_POSTGRES_URL`` names a server: a fresh database is created there per run and
dropped afterwards. Under ``CI=true`` an unreachable PostgreSQL fails the run; it never skips.
"""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring, new_keyring
from pdvault.crypto.provider import LocalKeyProvider
from pdvault.main import create_app
from pdvault.migrate import upgrade
from pdvault.models import Base
from pdvault.policy import Role
from tests.helpers import free_port

POSTGRES_URL = os.environ.get("PDVAULT_TEST_POSTGRES_URL")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ENGINES = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
# .ci/run runs the engines one after the other, one pytest each: PDVAULT_TEST_ENGINES=sqlite or
# =postgresql keeps that engine's tests; a test that does not depend on the engine runs only
# where SQLite runs, so nothing runs twice and nothing is left out.
_CHOSEN = [e.strip() for e in os.environ.get("PDVAULT_TEST_ENGINES", "").split(",") if e.strip()]
if _CHOSEN:
    if unknown := set(_CHOSEN) - set(ENGINES):
        raise pytest.UsageError(f"PDVAULT_TEST_ENGINES names unavailable engines: {unknown}")
    ENGINES = [e for e in ENGINES if e in _CHOSEN]

if IN_CI and not POSTGRES_URL:
    raise pytest.UsageError("CI=true but PDVAULT_TEST_POSTGRES_URL is not set")


def _admin_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


async def _pg_admin(url: str, sql: str) -> None:
    engine = create_async_engine(_admin_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked ``postgresql_only`` (a PostgreSQL fault: LOCK TABLE, DROP DATABASE) is not
    collected for SQLite, whose equivalent lives beside it; it is never a silent skip."""
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        engine = callspec.params.get("database_url") if callspec is not None else None
        if item.get_closest_marker("postgresql_only") is not None and engine == "sqlite":
            dropped.append(item)
        elif engine is None and "sqlite" not in ENGINES:
            dropped.append(item)  # engine-independent: run by the SQLite side
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session")
def keyring() -> Keyring:
    return new_keyring()


@pytest.fixture(scope="session", params=ENGINES)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, empty database for the whole run, one per engine."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "pdvault.sqlite3"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        yield url
        return
    assert POSTGRES_URL is not None
    name = f"pdvault_test_{secrets.token_hex(4)}"
    try:
        asyncio.run(_pg_admin(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # unreachable server: a failure, never a skip
        pytest.fail(f"PostgreSQL at PDVAULT_TEST_POSTGRES_URL unreachable: {type(exc).__name__}")
    url = make_url(POSTGRES_URL).set(drivername="postgresql+asyncpg", database=name)
    rendered = url.render_as_string(hide_password=False)
    upgrade(rendered)
    # Commits wait for no WAL flush: a test database lives for one run, and what a test
    # proves (the app's answers, its transactions) does not depend on the server's fsync.
    asyncio.run(_pg_admin(POSTGRES_URL, f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    yield rendered
    asyncio.run(_pg_admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def engine_name(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@functools.cache
def _clear_statements(url: str) -> tuple[str, ...]:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    if url.startswith("sqlite"):
        return tuple(f'DELETE FROM "{name}"' for name in tables)
    return ("TRUNCATE " + ", ".join(f'"{n}"' for n in tables) + " RESTART IDENTITY CASCADE",)


async def _empty_sqlite(engine: AsyncEngine, url: str) -> None:
    """Every SQLite table emptied in one script: one call to the driver's thread, one
    transaction (a statement each cost a hand-off to aiosqlite's thread and back, 24 of them per
    test). It commits without an fsync (``synchronous=OFF`` on this connection only): the file
    is the run's scratch database, and the sync was 28 of the 31 ms an emptying took."""
    script = "".join(
        ["PRAGMA synchronous=OFF;BEGIN;"] + [f"{s};" for s in _clear_statements(url)] + ["COMMIT;"]
    )
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.executescript(script)  # type: ignore[union-attr]


async def truncate_all(url: str) -> None:
    """Every table emptied, through an engine of its own (a test that builds its own app)."""
    engine = create_async_engine(url)
    try:
        if url.startswith("sqlite"):
            await _empty_sqlite(engine, url)
            return
        async with engine.begin() as conn:
            for statement in _clear_statements(url):
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


class _Shared:
    """What one engine's tests share for the whole run: the settings, one app (its routes and
    their dependency graphs are built once, at its first requests), and an engine that empties
    the tables between tests. Each test still runs the app's lifespan (a new engine, a new log
    writer, new caches), so no state but the database's schema outlives a test."""

    def __init__(self, url: str, data_dir: Path, keyring: Keyring) -> None:
        self.url = url
        self.settings = Settings(
            database_url=url,
            data_dir=data_dir,
            auth_cache_seconds=0.5,
            _env_file=None,  # type: ignore[call-arg]
        )
        self.pristine = dict(self.settings.__dict__)
        self.keyring = keyring
        self._app: Any = None
        self._pg_script: str | None = None
        # SQLite: no connection kept between tests (a live server or a restore in a test may
        # checkpoint or replace the file under it); opening one costs well under a millisecond.
        self.engine = create_async_engine(
            url, **({"poolclass": NullPool} if url.startswith("sqlite") else {})
        )

    def app(self) -> Any:
        if self._app is None:
            self._app = create_app(self.settings, LocalKeyProvider(self.keyring))
        return self._app

    async def clear(self) -> None:
        """Every table emptied (and PostgreSQL's sequences restarted, as TRUNCATE's RESTART
        IDENTITY would): on PostgreSQL one round trip of plain DELETEs, which on tables of a
        few rows costs a small fraction of a TRUNCATE."""
        if self.url.startswith("sqlite"):
            await _empty_sqlite(self.engine, self.url)
            return
        async with self.engine.begin() as conn:
            if self._pg_script is None:
                sequences = (
                    await conn.execute(
                        text(
                            "SELECT sequence_name, start_value FROM information_schema.sequences"
                            " WHERE sequence_schema = current_schema()"
                        )
                    )
                ).all()
                tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
                # setval(..., false) restarts a sequence as ALTER SEQUENCE ... RESTART does,
                # without the catalog change: 1 ms for the whole script instead of 8.
                restarts = ", ".join(
                    f"setval('\"{name}\"', {int(start)}, false)" for name, start in sequences
                )
                self._pg_script = "".join(
                    [f'DELETE FROM "{name}";' for name in tables]
                    + ([f"SELECT {restarts};"] if restarts else [])
                )
            raw = await conn.get_raw_connection()
            await raw.driver_connection.execute(self._pg_script)  # type: ignore[union-attr]

    def restore_settings(self) -> None:
        """Undo what a test set on the shared settings (``app.state.runtime.settings.x = ...``)."""
        self.settings.__dict__.update(self.pristine)


@pytest.fixture(scope="session")
async def shared(
    database_url: str, keyring: Keyring, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[_Shared]:
    state = _Shared(database_url, tmp_path_factory.mktemp("data"), keyring)
    yield state
    await state.engine.dispose()


@pytest.fixture
def settings(shared: _Shared) -> Iterator[Settings]:
    """The run's settings for this engine. A module that needs other settings overrides this
    fixture (``settings.model_copy(update=...)``) and its tests get an app of their own."""
    yield shared.settings
    shared.restore_settings()


@pytest.fixture
async def app(settings: Settings, keyring: Keyring, shared: _Shared) -> AsyncIterator[Any]:
    if settings is shared.settings:
        application = shared.app()
        state = getattr(application.state, "runtime", None)
        if state is not None:  # what the app object keeps across lifespans
            state.metrics.reset()
            state.auth_failures.clear()
        await shared.clear()
    else:
        await truncate_all(settings.effective_database_url)
        application = create_app(settings, LocalKeyProvider(keyring))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class Issued:
    principal_id: str
    token: str
    token_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


TokenFactory = Callable[..., Awaitable[Issued]]


@pytest.fixture
async def admin(app: Any) -> Issued:
    """An admin principal and token created directly (as ``pdvault init`` does)."""
    from pdvault.principals import service
    from pdvault.principals.schemas import PrincipalIn

    async with app.state.runtime.sessions() as session:
        principal = await service.create_principal(
            session, PrincipalIn(name="test-admin", role=Role.ADMIN)
        )
        created = await service.issue_token(session, principal, 30)
        await session.commit()
    return Issued(str(principal.id), created.token, str(created.id))


async def save_principal(
    app: Any,
    role: str,
    name: str,
    *,
    partner_id: str | None = None,
    issued_by: str | None = None,
    days: int = 7,
) -> Issued:
    """A principal and a token inserted directly, as the admin API would make them (the token
    attributed to ``issued_by``). Tests of the admin API itself go through HTTP."""
    import uuid

    from pdvault.principals import service
    from pdvault.principals.schemas import PrincipalIn

    async with app.state.runtime.sessions() as session:
        principal = await service.create_principal(
            session,
            PrincipalIn(
                name=name,
                role=Role(role),
                partner_id=uuid.UUID(partner_id) if partner_id is not None else None,
            ),
        )
        created = await service.issue_token(
            session,
            principal,
            days,
            issued_by=uuid.UUID(issued_by) if issued_by is not None else None,
        )
        await session.commit()
    return Issued(str(principal.id), created.token, str(created.id))


@pytest.fixture
def issue(app: Any, admin: Issued) -> TokenFactory:
    """A principal of a role with a token (inserted directly; see ``save_principal``)."""

    used: list[str] = []  # a principal's name is unique: a repeated name gets a number

    async def _issue(role: str, name: str | None = None, partner_id: str | None = None) -> Issued:
        name = name or f"{role}-principal"
        if name in used:
            name = f"{name}-{len(used) + 1}"
        used.append(name)
        return await save_principal(
            app, role, name, partner_id=partner_id, issued_by=admin.principal_id
        )

    return _issue


@pytest.fixture
def issue_via_api(client: httpx.AsyncClient, admin: Issued) -> TokenFactory:
    """A principal and token made through the admin API (two audited POSTs), for the tests
    whose subject is that path or its access events; other tests use ``issue``."""

    used: list[str] = []

    async def _issue(role: str, name: str | None = None, partner_id: str | None = None) -> Issued:
        name = name or f"{role}-api-principal"
        if name in used:
            name = f"{name}-{len(used) + 1}"
        used.append(name)
        body: dict[str, Any] = {"name": name, "role": role}
        if partner_id is not None:
            body["partner_id"] = partner_id
        r = await client.post("/v1/principals", json=body, headers=admin.headers)
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        r = await client.post(
            f"/v1/principals/{pid}/tokens", json={"expires_in_days": 7}, headers=admin.headers
        )
        assert r.status_code == 201, r.text
        return Issued(pid, r.json()["token"], r.json()["id"])

    return _issue


_counter = [0]


def customer_body(**overrides: Any) -> dict[str, Any]:
    """A valid, clearly fake customer; each call gets a distinct email and phone."""
    _counter[0] += 1
    n = _counter[0]
    body: dict[str, Any] = {
        "full_name": "Nguyễn Văn Mẫu",
        "phone": f"09{n % 100_000_000:08d}",
        "email": f"khach.mau.{n}.{secrets.token_hex(3)}@example.com",
        "address": "Số 1 Đường Ví Dụ, Phường Mẫu, Hà Nội",
        "consents": {"processing": True, "marketing": False},
        "policy_version": "2024-01",
    }
    body.update(overrides)
    return body


@pytest.fixture
def make_customer(client: httpx.AsyncClient, issue: TokenFactory) -> Callable[..., Awaitable[str]]:
    storefront: list[Issued] = []

    async def _make(**overrides: Any) -> str:
        if not storefront:
            storefront.append(await issue("storefront", "fixture-storefront"))
        r = await client.post(
            "/v1/customers", json=customer_body(**overrides), headers=storefront[0].headers
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    return _make


async def access_events(app: Any, **where: Any) -> list[dict[str, Any]]:
    """Every access event in order, as dicts (optionally filtered by equal columns)."""
    from sqlalchemy import select

    from pdvault.audit.models import AccessEvent

    async with app.state.runtime.sessions() as session:
        rows = (await session.scalars(select(AccessEvent).order_by(AccessEvent.seq))).all()
        out = [{c.name: getattr(r, c.name) for c in AccessEvent.__table__.columns} for r in rows]
    return [e for e in out if all(str(e.get(k)) == str(v) for k, v in where.items())]


# -- a real uvicorn on 127.0.0.1, for end-to-end tests ------------------------------------


@dataclass
class LiveServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path


@pytest.fixture
def live_server_factory(
    database_url: str, keyring: Keyring, tmp_path: Path
) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def _start(workers: int = 2, **env_overrides: str) -> LiveServer:
        asyncio.run(truncate_all(database_url))
        port = free_port()
        log_path = tmp_path / f"server-{port}.log"
        env = {
            **os.environ,
            "PDVAULT_DATABASE_URL": database_url,
            "PDVAULT_KEYS_JSON": keyring.to_json(),
            "PDVAULT_DATA_DIR": str(tmp_path / "live-data"),
            "PDVAULT_HOST": "127.0.0.1",
            "PDVAULT_PORT": str(port),
            "PDVAULT_WORKERS": str(workers),
            **env_overrides,
        }
        log = log_path.open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "pdvault", "serve"], env=env, stdout=log, stderr=log
        )
        server = LiveServer(f"http://127.0.0.1:{port}", proc, log_path)
        started.append(server)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("server did not become healthy within 30 s")

    yield _start
    for server in started:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
