"""Bearer tokens at the edge: every bad Authorization header is one 401 problem."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from pdvault.auth.tokens import hash_token, looks_like_token, new_token
from tests.conftest import Issued, TokenFactory
from tests.helpers import assert_problem, fake_clock, insert_token


def assert_401(r: httpx.Response) -> None:
    assert_problem(r, 401)
    assert r.headers["www-authenticate"].lower().startswith("bearer")
    assert "x-request-id" in r.headers


def _garbage_token() -> str:
    return "pdv_" + secrets.token_urlsafe(32)


BAD_HEADERS: list[Any] = [
    pytest.param(lambda t: t, id="no-scheme"),
    pytest.param(lambda t: "Basic dXNlcjpwYXNzd29yZA==", id="basic"),
    pytest.param(lambda t: f"Basic {t}", id="basic-with-real-token"),
    pytest.param(lambda t: "Bearer ", id="bearer-empty"),
    pytest.param(lambda t: "Bearer", id="bearer-alone"),
    pytest.param(lambda t: "Bearer    ", id="bearer-spaces"),
    pytest.param(lambda t: "Token " + t, id="other-scheme"),
    pytest.param(lambda t: "Bearer xyz_" + t.removeprefix("pdv_"), id="wrong-prefix"),
    pytest.param(lambda t: "Bearer PDV_" + t.removeprefix("pdv_"), id="prefix-case"),
    pytest.param(lambda t: "Bearer " + _garbage_token(), id="right-length-garbage"),
    pytest.param(lambda t: "Bearer " + t[:-1], id="truncated"),
    pytest.param(lambda t: "Bearer " + t + "A", id="one-too-long"),
    pytest.param(lambda t: "Bearer " + t[:-1] + ("A" if t[-1] != "A" else "B"), id="one-char-off"),
    pytest.param(lambda t: f"Bearer {t} {t}", id="two-tokens"),
    pytest.param(lambda t: "Bearer " + t[:-2] + "é!", id="non-ascii"),
    pytest.param(lambda t: "Bearer pdv_" + "é" * 43, id="non-ascii-right-length"),
    pytest.param(lambda t: "Bearer " + hash_token(t), id="the-hash-itself"),
]


def _header(value: str) -> dict[str, bytes]:
    # Bytes so non-ASCII and odd spacing reach the server as sent.
    return {"Authorization": value.encode("utf-8")}


@pytest.mark.parametrize("make", BAD_HEADERS)
async def test_malformed_authorization(
    client: httpx.AsyncClient, issue: TokenFactory, make: Any
) -> None:
    shop = await issue("storefront")
    value = make(shop.token)
    search = {"email": "nobody@example.com", "purpose": "customer_self_service"}
    r = await client.post("/v1/customers/search", json=search, headers=_header(value))
    assert_401(r)
    r = await client.get(
        f"/v1/customers/{uuid.uuid4()}",
        params={"purpose": "customer_self_service"},
        headers=_header(value),
    )
    assert_401(r)
    # The real token still works: the refusals above were about the header, not the token.
    r = await client.post("/v1/customers/search", json=search, headers=shop.headers)
    assert r.status_code == 200, r.text


async def test_missing_authorization(client: httpx.AsyncClient) -> None:
    assert_401(await client.get("/v1/principals"))
    assert_401(
        await client.get(f"/v1/customers/{uuid.uuid4()}", params={"purpose": "order_confirmation"})
    )


async def test_scheme_is_case_insensitive(client: httpx.AsyncClient, issue: TokenFactory) -> None:
    shop = await issue("storefront")
    search = {"email": "nobody@example.com", "purpose": "customer_self_service"}
    for scheme in ("bearer", "BEARER", "Bearer"):
        r = await client.post(
            "/v1/customers/search",
            json=search,
            headers={"Authorization": f"{scheme} {shop.token}"},
        )
        assert r.status_code == 200, (scheme, r.text)


async def test_expired_token(client: httpx.AsyncClient, app: Any, admin: Issued) -> None:
    expired = await insert_token(app, admin.principal_id, -timedelta(seconds=1))
    long_expired = await insert_token(app, admin.principal_id, -timedelta(days=365))
    valid = await insert_token(app, admin.principal_id, timedelta(hours=1))
    for token in (expired, long_expired):
        assert looks_like_token(token)
        r = await client.get("/v1/principals", headers={"Authorization": f"Bearer {token}"})
        assert_401(r)
    r = await client.get("/v1/principals", headers={"Authorization": f"Bearer {valid}"})
    assert r.status_code == 200, r.text


async def test_token_expiring_while_cached(
    client: httpx.AsyncClient, app: Any, admin: Issued, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token accepted moments before it expires is refused once the cache entry lapses."""
    clock = fake_clock(monkeypatch, app.state.runtime.principals)
    soon = await insert_token(app, admin.principal_id, timedelta(seconds=0.8))
    headers = {"Authorization": f"Bearer {soon}"}
    r = await client.get("/v1/principals", headers=headers)
    assert r.status_code == 200, r.text
    clock.advance(1.4)  # past the expiry (0.8 s) and the cache (0.5 s)
    assert_401(await client.get("/v1/principals", headers=headers))


async def test_unknown_well_formed_token(client: httpx.AsyncClient, admin: Issued) -> None:
    for _ in range(3):
        token = new_token()
        assert looks_like_token(token)
        assert_401(await client.get("/v1/principals", headers={"Authorization": f"Bearer {token}"}))


def test_token_shape() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert token.startswith("pdv_")
        assert looks_like_token(token)
        assert len(hash_token(token)) == 64
    assert not looks_like_token("pdv_" + "é" * 43)
    assert not looks_like_token("pdv_" + "a" * 42 + "=")
    assert not looks_like_token("")
