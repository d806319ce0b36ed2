"""JSON bodies are UTF-8 and say they are JSON (RFC 8259): anything else is 415, never a way
around the NUL guard, never a 500."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.abuse.test_hostile_input import counts, json_headers, targets
from tests.conftest import Issued, TokenFactory, customer_body
from tests.helpers import assert_problem


@pytest.fixture
async def shop(issue: TokenFactory) -> Issued:
    return await issue("storefront", "test-storefront")


def _unsupported(r: httpx.Response, *, naming: str) -> None:
    body = assert_problem(r, 415)
    assert naming in body["detail"], body


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
async def test_a_utf16_or_utf32_body_is_415_and_cannot_carry_a_nul(
    client: httpx.AsyncClient, app: Any, shop: Issued, make_customer: Any, encoding: str
) -> None:
    """The NUL guard looked for the escape in the bytes; in UTF-16 they are interleaved with
    zero bytes, so a NUL reached PostgreSQL (a 503) or was stored (SQLite)."""
    body = customer_body(full_name="Nguyễn\x00Văn Mẫu")
    raw = json.dumps(body).encode(encoding)
    for method, path in await targets(make_customer):
        before = await counts(app)
        r = await client.request(method, path, content=raw, headers=json_headers(shop))
        _unsupported(r, naming="UTF-8")
        assert await counts(app) == before


@pytest.mark.parametrize("charset", ["utf-16", "latin-1", "UTF-32LE", "bogus"])
async def test_a_charset_other_than_utf8_is_415(
    client: httpx.AsyncClient, app: Any, shop: Issued, charset: str
) -> None:
    before = await counts(app)
    r = await client.post(
        "/v1/customers",
        content=json.dumps(customer_body()).encode(),
        headers={**shop.headers, "Content-Type": f"application/json; charset={charset}"},
    )
    _unsupported(r, naming="UTF-8")
    assert await counts(app) == before


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"', "utf8"])
async def test_utf8_said_out_loud_is_accepted(
    client: httpx.AsyncClient, shop: Issued, charset: str
) -> None:
    r = await client.post(
        "/v1/customers",
        content=json.dumps(customer_body()).encode(),
        headers={**shop.headers, "Content-Type": f"application/json; charset={charset}"},
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("token", [True, False], ids=["with-token", "without-token"])
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[" * 100_000 + b'"\\u0000"' + b"]" * 100_000, id="deep-array"),
        pytest.param(b'{"a":' * 50_000 + b'"\\u0000"' + b"}" * 50_000, id="deep-object"),
        pytest.param(
            b'{"full_name": ' + b"[" * 5_000 + b'"a\\u0000"' + b"]" * 5_000 + b"}",
            id="in-a-field",
        ),
    ],
)
async def test_deeply_nested_json_holding_a_nul_is_a_4xx(
    client: httpx.AsyncClient,
    app: Any,
    shop: Issued,
    make_customer: Any,
    raw: bytes,
    token: bool,
) -> None:
    """It was an unauthenticated 500: the NUL guard's parse hit Python's recursion limit."""
    headers = json_headers(shop) if token else {"content-type": "application/json"}
    for method, path in await targets(make_customer):
        before = await counts(app)
        r = await client.request(method, path, content=raw, headers=headers)
        assert r.status_code in {400, 401, 422}, (path, r.status_code, r.text[:200])
        assert_problem(r, r.status_code)
        assert "Recursion" not in r.text
        assert await counts(app) == before


async def test_a_nul_just_inside_the_parsers_depth_is_still_named() -> None:
    """Finding the NUL walks the parsed body without recursion, however deep the parser went."""
    from pdvault.middleware import nul_at

    deep: Any = "a\x00b"
    for _ in range(50_000):
        deep = [deep]
    loc = nul_at({"full_name": deep}, ["body"])
    assert loc is not None
    assert loc[:2] == ["body", "full_name"]
    assert len(loc) == 2 + 50_000


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"],
)
async def test_a_json_route_without_a_json_content_type_is_415_naming_it(
    client: httpx.AsyncClient,
    app: Any,
    shop: Issued,
    make_customer: Any,
    content_type: str | None,
) -> None:
    """It was 422 "Input should be a valid dictionary", which sends a client looking at its
    JSON instead of its header."""
    raw = json.dumps(customer_body()).encode()
    headers = dict(shop.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    for method, path in await targets(make_customer):
        before = await counts(app)
        r = await client.request(method, path, content=raw, headers=headers)
        _unsupported(r, naming="application/json")
        assert await counts(app) == before


async def test_json_types_and_empty_bodies_still_pass(
    client: httpx.AsyncClient, shop: Issued, make_customer: Any
) -> None:
    for media in ("application/json", "application/merge-patch+json", "APPLICATION/JSON"):
        r = await client.post(
            "/v1/customers",
            content=json.dumps(customer_body()).encode(),
            headers={**shop.headers, "Content-Type": media},
        )
        assert r.status_code == 201, (media, r.text)
    # An empty body needs no type: the route answers as before (here: the body is required).
    r = await client.post("/v1/customers", headers=shop.headers)
    assert_problem(r, 422, errors=True)
