"""A client that sends its body slowly, or never, holds nothing but its own connection.

The body is read whole (bounded by the size limit and ``PDVAULT_BODY_TIMEOUT_SECONDS``) before
any session or transaction opens, and the token is looked up without SQLite's write lock: a
stalled upload or JSON body used to hold ``BEGIN IMMEDIATE`` from the token lookup on, so every
other request waited out SQLite's busy timeout (10 s) and answered 503. A body that does not
arrive within the timeout is 408, and the connection is closed.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from pdvault.config import Settings
from pdvault.policy import Role
from pdvault.principals.bootstrap import create_principal_with_token
from pdvault.principals.schemas import PrincipalIn
from tests.conftest import Issued, TokenFactory, customer_body
from tests.helpers import assert_problem

SELF = "customer_self_service"
READS = 50
BODY_TIMEOUT = 8.0  # seconds, for the live server: ample for the 50 reads beside the stalls
BOUNDARY = "pdvault-stall"


# -- on a real server ----------------------------------------------------------------------


def _post_head(path: str, token: str, content_type: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n"
        "\r\n"
    ).encode()


def _stall(base_url: str, head: bytes, partial: bytes) -> socket.socket:
    """A connection that sends its headers and part of its body, then nothing more."""
    parts = urlsplit(base_url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30)
    sock.sendall(head + partial)
    return sock


def _nothing_received(sock: socket.socket) -> bool:
    """Nothing has come back on the connection yet (no answer, not closed)."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)
    return False


def _answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The whole answer on a stalled connection, read until the server closes it."""
    sock.settimeout(BODY_TIMEOUT + 15)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return status, headers, body


@pytest.fixture
def live(live_server_factory: Any) -> Any:
    # No token cache: every request, the stalled ones too, looks its token up in the database.
    return live_server_factory(
        workers=1,
        PDVAULT_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
        PDVAULT_AUTH_CACHE_SECONDS="0",
    )


@pytest.fixture
def storefront(live: Any, database_url: str) -> Iterator[tuple[httpx.Client, str, str]]:
    """A storefront token on the live server and one customer it may read."""
    settings = Settings(database_url=database_url, _env_file=None)  # type: ignore[call-arg]
    admin = asyncio.run(
        create_principal_with_token(settings, PrincipalIn(name="slow-admin", role=Role.ADMIN), 1)
    )
    with httpx.Client(base_url=live.base_url, timeout=30) as c:
        auth = {"Authorization": f"Bearer {admin}"}
        r = c.post("/v1/principals", json={"name": "slow-shop", "role": "storefront"}, headers=auth)
        assert r.status_code == 201, r.text
        r = c.post(f"/v1/principals/{r.json()['id']}/tokens", json={}, headers=auth)
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        r = c.post(
            "/v1/customers", json=customer_body(), headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 201, r.text
        yield c, token, r.json()["id"]


async def _reads(base_url: str, token: str, cid: str) -> list[tuple[int, float]]:
    limits = httpx.Limits(max_connections=READS)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as c:

        async def one() -> tuple[int, float]:
            started = time.monotonic()
            r = await c.get(
                f"/v1/customers/{cid}",
                params={"purpose": SELF},
                headers={"Authorization": f"Bearer {token}"},
            )
            return r.status_code, time.monotonic() - started

        return await asyncio.gather(*(one() for _ in range(READS)))


@pytest.mark.e2e
def test_stalled_upload_and_json_body_stop_no_read(
    live: Any, storefront: tuple[httpx.Client, str, str]
) -> None:
    client, token, cid = storefront
    upload = _stall(
        live.base_url,
        _post_head(
            f"/v1/customers/{cid}/documents",
            token,
            f"multipart/form-data; boundary={BOUNDARY}",
            100_000,
        ),
        (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="kind"\r\n\r\ninvoice\r\n'
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="hoa-don.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n%PDF-1.4\n"
        ).encode(),
    )
    json_body = _stall(
        live.base_url,
        _post_head("/v1/customers", token, "application/json", 5000),
        b'{"full_name": "Nguy',
    )
    stalled_at = time.monotonic()
    try:
        # A real wait, kept: both requests must be inside the real server, waiting for the
        # rest of their body, before the reads start.
        time.sleep(0.5)
        results = asyncio.run(_reads(live.base_url, token, cid))
        statuses = [status for status, _ in results]
        assert statuses == [200] * READS, sorted(set(statuses))
        # Answered while both uploads were still stalled, not after the server gave up on them.
        assert _nothing_received(upload)
        assert _nothing_received(json_body)
        assert time.monotonic() - stalled_at < BODY_TIMEOUT

        for sock in (upload, json_body):
            status, headers, body = _answer(sock)  # returns once the server has closed it
            assert status == 408, body[:300]
            assert headers["content-type"].startswith("application/problem+json")
            assert headers["connection"].lower() == "close"
            assert headers["x-request-id"]
            assert b"Nguy" not in body
        waited = time.monotonic() - stalled_at
        assert BODY_TIMEOUT - 0.5 <= waited < BODY_TIMEOUT + 10, waited
    finally:
        upload.close()
        json_body.close()
    # Nothing of the abandoned requests was stored, and the server serves on.
    r = client.get(f"/v1/customers/{cid}/documents", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []
    metrics = client.get("/metrics").text
    assert 'status="408"' in metrics


# -- in process ------------------------------------------------------------------------------


@pytest.fixture
async def quick_app(settings: Settings, keyring: Any, database_url: str) -> AsyncIterator[Any]:
    """The app with a body timeout short enough for a test."""
    from pdvault.crypto.provider import LocalKeyProvider
    from pdvault.main import create_app
    from tests.conftest import truncate_all

    await truncate_all(database_url)
    application = create_app(
        settings.model_copy(update={"body_timeout_seconds": 0.3}), LocalKeyProvider(keyring)
    )
    async with application.router.lifespan_context(application):
        yield application


async def _call_stalled(app: Any, path: str, headers: dict[str, str], first: bytes) -> list[Any]:
    """Run one request whose body stops after ``first``; the messages the app sent back."""
    sent: list[Any] = []
    chunks = [{"type": "http.request", "body": first, "more_body": True}]

    async def receive() -> Any:
        if chunks:
            return chunks.pop(0)
        await asyncio.sleep(3600)  # the client never sends the rest
        raise AssertionError("unreachable")

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=10)
    return sent


@pytest.fixture
async def shop(quick_app: Any) -> Issued:
    async with quick_app.state.runtime.sessions() as session:
        from pdvault.principals import service

        principal = await service.create_principal(
            session, PrincipalIn(name="quick-shop", role=Role.STOREFRONT)
        )
        created = await service.issue_token(session, principal, 30)
        await session.commit()
    return Issued(str(principal.id), created.token, str(created.id))


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/v1/customers", "application/json"),
        ("/v1/customers/{cid}/documents", f"multipart/form-data; boundary={BOUNDARY}"),
        ("/v1/customers/search", "application/json"),
    ],
)
async def test_a_body_that_stops_is_408_and_closes_the_connection(
    quick_app: Any, shop: Issued, path: str, content_type: str
) -> None:
    cid = "0190a0a0-0000-7000-8000-000000000000"
    started = time.monotonic()
    sent = await _call_stalled(
        quick_app,
        path.format(cid=cid),
        {**shop.headers, "Content-Type": content_type, "Content-Length": "5000"},
        b'{"full_name": "Nguy',
    )
    assert time.monotonic() - started < 5
    start = sent[0]
    assert start["status"] == 408
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    assert headers["content-type"].startswith("application/problem+json")
    assert headers["connection"] == "close"
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert b'"status":408' in body
    assert b"Nguy" not in body


async def test_a_stalled_body_without_a_token_is_408_too(quick_app: Any) -> None:
    sent = await _call_stalled(
        quick_app,
        "/v1/customers",
        {"Content-Type": "application/json", "Content-Length": "5000"},
        b"{",
    )
    assert sent[0]["status"] == 408


# -- the token lookup takes no write lock ------------------------------------------------------


@asynccontextmanager
async def writer_holding_the_lock(database_url: str) -> AsyncIterator[None]:
    """Another writer in the middle of a transaction: on SQLite it holds the database's one
    write lock (BEGIN IMMEDIATE), on PostgreSQL row locks on every token."""
    if database_url.startswith("sqlite"):
        path = make_url(database_url).database
        assert path
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            trans = await conn.begin()
            await conn.execute(text("SELECT id FROM tokens FOR UPDATE"))
            yield
            await trans.rollback()
    finally:
        await engine.dispose()


async def test_authentication_waits_for_no_writer(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory, database_url: str
) -> None:
    """While another transaction writes, a request that is refused before it writes anything
    (here: its body is invalid) is answered at once: looking up its token takes no lock."""
    shop = await issue("storefront", "lookup-shop")
    app.state.runtime.principals.clear()  # the token is looked up in the database again
    async with writer_holding_the_lock(database_url):
        started = time.monotonic()
        r = await client.post("/v1/customers", json={"full_name": 1}, headers=shop.headers)
        assert_problem(r, 422, errors=True)
        assert time.monotonic() - started < 3  # not SQLite's 10 s busy timeout, then a 503
