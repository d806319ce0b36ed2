"""The edge is the app's one ASGI layer (CORS beside it only when configured), and it writes
no per-request log line at the usual levels unless ``PDVAULT_HTTP_ACCESS_LOG`` asks for one:
the access-event log is what records reads."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.middleware.cors import CORSMiddleware

from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring
from pdvault.crypto.provider import LocalKeyProvider
from pdvault.main import create_app
from pdvault.middleware import EdgeMiddleware
from pdvault.observability import JsonFormatter, new_request_id
from tests.conftest import Issued, TokenFactory, customer_body, save_principal, truncate_all

NAME = "Trần Thị Nhật Ký"
EMAIL_LOCAL = "nhat.ky.mau"


class _Lines(logging.Handler):
    """Every record the ``pdvault`` loggers emit, formatted as the service writes them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines() -> Iterator[_Lines]:
    """At the usual level (INFO); installed after the app's lifespan set up logging (it
    replaces the handlers)."""
    handler = _Lines()
    root = logging.getLogger("pdvault")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
async def logging_app(
    settings: Settings, keyring: Keyring, database_url: str
) -> AsyncIterator[Any]:
    """An app with ``http_access_log`` on."""
    await truncate_all(database_url)
    changed = settings.model_copy(update={"http_access_log": True})
    application = create_app(changed, LocalKeyProvider(keyring))
    async with application.router.lifespan_context(application):
        yield application


def test_the_stack_is_the_edge_alone(settings: Settings, keyring: Keyring) -> None:
    app = create_app(settings, LocalKeyProvider(keyring))
    stack = app.build_middleware_stack()
    assert type(stack) is EdgeMiddleware
    assert stack.router is app.router
    assert stack.app == stack._routed  # no layer between the edge and the router


def test_cors_when_configured_sits_between_edge_and_router(
    settings: Settings, keyring: Keyring
) -> None:
    changed = settings.model_copy(update={"cors_origins": "https://shop.example.com"})
    app = create_app(changed, LocalKeyProvider(keyring))
    stack = app.build_middleware_stack()
    assert type(stack) is EdgeMiddleware
    assert type(stack.app) is CORSMiddleware
    assert stack.app.app == stack._routed


def test_middleware_added_the_usual_way_is_refused(settings: Settings, keyring: Keyring) -> None:
    app = create_app(settings, LocalKeyProvider(keyring))
    app.add_middleware(CORSMiddleware, allow_origins=["https://shop.example.com"])
    with pytest.raises(RuntimeError, match="edge alone"):
        app.build_middleware_stack()


async def _requests(client: httpx.AsyncClient, issue: TokenFactory) -> list[int]:
    """A read by id, a create, a refusal and a health check; their statuses."""
    shop = await issue("storefront")
    employee = await issue("employee")
    body = customer_body(full_name=NAME, email=f"{EMAIL_LOCAL}@example.com")
    created = await client.post("/v1/customers", json=body, headers=shop.headers)
    cid = created.json()["id"]
    read = await client.get(
        f"/v1/customers/{cid}",
        params={"purpose": "order_confirmation"},
        headers=employee.headers,
    )
    refused = await client.get(f"/v1/customers/{cid}", params={"purpose": "marketing"})
    health = await client.get("/healthz")
    return [r.status_code for r in (created, read, refused, health)]


async def test_no_request_log_line_by_default(
    client: httpx.AsyncClient, issue: TokenFactory, log_lines: _Lines
) -> None:
    assert await _requests(client, issue) == [201, 200, 401, 200]
    assert log_lines.lines == []
    # Off, the line is DEBUG: written only when the operator asks for DEBUG.
    logging.getLogger("pdvault").setLevel(logging.DEBUG)
    assert (await client.get("/healthz")).status_code == 200
    [line] = [json.loads(text) for text in log_lines.lines]
    assert (line["level"], line["route"], line["status"]) == ("debug", "/healthz", 200)


async def test_access_log_on_writes_one_line_per_request_without_values(
    logging_app: Any, log_lines: _Lines
) -> None:
    async def issue(role: str) -> Issued:
        return await save_principal(logging_app, role, f"{role}-logged")

    transport = httpx.ASGITransport(app=logging_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        statuses = await _requests(client, issue)
    assert statuses == [201, 200, 401, 200]
    lines = [json.loads(line) for line in log_lines.lines if '"pdvault.http"' in line]
    assert len(lines) == len(statuses) == len(log_lines.lines)
    assert [line["status"] for line in lines] == statuses
    assert {line["level"] for line in lines} == {"info"}
    assert [line["route"] for line in lines] == [
        "/v1/customers",
        "/v1/customers/{customer_id}",
        "/v1/customers/{customer_id}",
        "/healthz",
    ]
    for line in lines:
        assert set(line) == {
            "ts",
            "level",
            "logger",
            "msg",
            "request_id",
            "method",
            "route",
            "status",
            "duration_ms",
        }
    text = "\n".join(log_lines.lines)
    for value in (NAME, EMAIL_LOCAL, "order_confirmation", "marketing", "purpose", "Nguy"):
        assert value not in text, value


async def test_a_failing_route_logs_one_line_without_its_values(
    settings: Settings, keyring: Keyring, log_lines: _Lines
) -> None:
    """The error line is written whatever the access-log setting; it names the exception's
    class and route, never its message (which here holds a name and a phone number)."""
    application = create_app(settings, LocalKeyProvider(keyring))

    async def boom() -> dict[str, str]:
        raise RuntimeError(f"boom: {NAME}, 0912345678")

    application.add_api_route("/boom", boom, methods=["GET"])
    async with application.router.lifespan_context(application):
        logging.getLogger("pdvault").addHandler(log_lines)  # the lifespan replaced them
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            r = await c.get("/boom")
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    [line] = [json.loads(text) for text in log_lines.lines]
    assert (line["level"], line["msg"], line["error"]) == (
        "error",
        "request failed",
        "RuntimeError",
    )
    assert line["route"] == "/boom"
    assert NAME not in log_lines.lines[0]
    assert "0912345678" not in log_lines.lines[0]


async def test_the_routers_own_refusals_get_cors_and_edge_headers(
    settings: Settings, keyring: Keyring
) -> None:
    """A 404 or 405 the router raises is answered inside CORS and inside the edge."""
    origin = "https://shop.example.com"
    changed = settings.model_copy(update={"cors_origins": origin})
    application = create_app(changed, LocalKeyProvider(keyring))
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        for method, path, status in (("GET", "/nope", 404), ("DELETE", "/healthz", 405)):
            r = await c.request(method, path, headers={"Origin": origin})
            assert r.status_code == status
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.headers["access-control-allow-origin"] == origin
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["x-request-id"]


def test_a_fresh_request_id_is_a_random_uuid() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    for rid in ids:
        parsed = uuid.UUID(rid)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert parsed.hex == rid
