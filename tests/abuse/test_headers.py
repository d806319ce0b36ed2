"""Hygiene at the edge: security headers on every response, CORS off unless configured, and
the interactive docs switchable off."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring
from pdvault.crypto.provider import LocalKeyProvider
from pdvault.main import create_app
from tests.conftest import Issued, TokenFactory, customer_body, truncate_all

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
ORIGIN = "https://shop.example.com"

AppFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def app_with(
    settings: Settings, keyring: Keyring, database_url: str
) -> AsyncIterator[AppFactory]:
    """A client for an app built with some settings changed."""
    await truncate_all(database_url)
    stack: list[tuple[Any, httpx.AsyncClient]] = []

    async def _make(**changes: Any) -> httpx.AsyncClient:
        application = create_app(settings.model_copy(update=changes), LocalKeyProvider(keyring))
        context = application.router.lifespan_context(application)
        await context.__aenter__()
        transport = httpx.ASGITransport(app=application)
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        stack.append((context, client))
        return client

    yield _make
    for context, client in reversed(stack):
        await client.aclose()
        await context.__aexit__(None, None, None)


def assert_secure(r: httpx.Response, csp: str = API_CSP) -> None:
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-security-policy"] == csp
    assert "strict-transport-security" not in r.headers
    # One of each, never a route's copy beside ours.
    for name in ("x-content-type-options", "cache-control", "content-security-policy"):
        assert len(r.headers.get_list(name)) == 1, name


@pytest.fixture
async def shop(issue: TokenFactory) -> Issued:
    return await issue("storefront")


async def test_every_kind_of_response_carries_the_headers(
    client: httpx.AsyncClient, shop: Issued, make_customer: Any
) -> None:
    cid = await make_customer()
    responses = {
        "read": await client.get(
            f"/v1/customers/{cid}",
            params={"purpose": "customer_self_service"},
            headers=shop.headers,
        ),
        "create": await client.post("/v1/customers", json=customer_body(), headers=shop.headers),
        "401": await client.get(f"/v1/customers/{cid}"),
        "403": await client.get(
            f"/v1/customers/{cid}", params={"purpose": "nope"}, headers=shop.headers
        ),
        "404": await client.get("/v1/nope"),
        "405": await client.put("/v1/customers", headers=shop.headers),
        "413": await client.post(
            "/v1/customers",
            content=b"x" * (1024 * 1024 + 1),
            headers={**shop.headers, "content-type": "application/json"},
        ),
        "422": await client.post("/v1/customers", json={}, headers=shop.headers),
        "healthz": await client.get("/healthz"),
        "metrics": await client.get("/metrics"),
        "policy": await client.get("/v1/policy"),
        "openapi": await client.get("/openapi.json"),
    }
    statuses = {k: r.status_code for k, r in responses.items()}
    assert statuses == {
        "read": 200,
        "create": 201,
        "401": 401,
        "403": 403,
        "404": 404,
        "405": 405,
        "413": 413,
        "422": 422,
        "healthz": 200,
        "metrics": 200,
        "policy": 200,
        "openapi": 200,
    }
    for name, r in responses.items():
        try:
            assert_secure(r)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc


async def test_a_500_carries_the_headers(settings: Settings, keyring: Keyring) -> None:
    application = create_app(settings, LocalKeyProvider(keyring))

    async def boom() -> None:
        raise RuntimeError("boom")

    application.add_api_route("/boom", boom, methods=["GET"])
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            r = await c.get("/boom")
    assert r.status_code == 500
    assert_secure(r)


async def test_docs_pages_get_a_policy_that_lets_them_load(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        r = await client.get(path)
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "default-src 'none'" in csp
        # Every script and stylesheet the page names is allowed by the policy.
        for source in _asset_origins(r.text):
            assert source in csp, (path, source)
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"


def _asset_origins(html: str) -> set[str]:
    import re

    return {m.group(1) for m in re.finditer(r'(?:src|href)="(https://[^/"]+)', html)}


async def test_hsts_only_when_configured(app_with: AppFactory) -> None:
    client = await app_with(hsts_max_age=31_536_000)
    for r in (await client.get("/healthz"), await client.get("/v1/nope")):
        assert r.headers["strict-transport-security"] == "max-age=31536000"


# -- CORS ------------------------------------------------------------------------------------


async def test_cors_is_off_by_default(client: httpx.AsyncClient, shop: Issued) -> None:
    r = await client.get("/v1/policy", headers={"Origin": ORIGIN})
    assert r.status_code == 200
    assert not [h for h in r.headers if h.lower().startswith("access-control-")]
    preflight = await client.options(
        "/v1/customers/search",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 405  # not honoured: no route answers OPTIONS
    assert preflight.headers["content-type"].startswith("application/problem+json")
    assert not [h for h in preflight.headers if h.lower().startswith("access-control-")]


async def test_cors_allow_list(app_with: AppFactory, issue: TokenFactory) -> None:
    client = await app_with(cors_origins=f"{ORIGIN}, https://admin.example.com:8443")
    preflight = await client.options(
        "/v1/customers/search",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-request-id",
        },
    )
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in preflight.headers
    assert_secure(preflight)
    r = await client.get("/v1/policy", headers={"Origin": ORIGIN})
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
    # An origin not on the list gets nothing that lets a browser read the answer.
    r = await client.get("/v1/policy", headers={"Origin": "https://evil.example.net"})
    assert "access-control-allow-origin" not in r.headers
    preflight = await client.options(
        "/v1/customers/search",
        headers={"Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize(
    "bad", ["*", "shop.example.com", "https://shop.example.com/path", "javascript:alert(1)"]
)
def test_cors_origins_must_be_origins(bad: str) -> None:
    with pytest.raises(ValidationError, match="CORS origin"):
        Settings(cors_origins=bad, _env_file=None)  # type: ignore[call-arg]


# -- /docs switch ------------------------------------------------------------------------------


async def test_docs_are_on_by_default(client: httpx.AsyncClient) -> None:
    assert Settings(_env_file=None).docs_enabled is True  # type: ignore[call-arg]
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert (await client.get(path)).status_code == 200, path


async def test_docs_switched_off_are_404(app_with: AppFactory) -> None:
    client = await app_with(docs_enabled=False)
    for path in ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("application/problem+json")
        assert_secure(r)
    assert (await client.get("/healthz")).status_code == 200


def test_openapi_cli_works_with_docs_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from pdvault.cli import app as cli
    from pdvault.config import get_settings

    monkeypatch.setenv("PDVAULT_DOCS_ENABLED", "false")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["openapi"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert "/v1/customers" in doc["paths"]
    # The lockout's 429 is part of the contract of every operation taking a token.
    assert "429" in doc["paths"]["/v1/customers"]["post"]["responses"]
