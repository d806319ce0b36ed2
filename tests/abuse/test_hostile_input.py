"""Hostile bodies and values: each is a clear 4xx problem that changes nothing, or (SQL and
markup) is stored and returned byte for byte as the plain text it is."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from pdvault.audit.models import AccessEvent
from pdvault.customers.models import Customer
from tests.conftest import Issued, TokenFactory, customer_body
from tests.customers.conftest import names_field
from tests.helpers import assert_problem

MIB = 1024 * 1024
SELF = "customer_self_service"
FIELDS = ["full_name", "phone", "email", "address"]


@pytest.fixture
async def shop(issue: TokenFactory) -> Issued:
    return await issue("storefront", "test-storefront")


async def counts(app: Any) -> tuple[int, int]:
    """(customers, access events): what a refused request must leave unchanged."""
    async with app.state.runtime.sessions() as session:
        customers = await session.scalar(select(func.count()).select_from(Customer))
        events = await session.scalar(select(func.count()).select_from(AccessEvent))
    return int(customers or 0), int(events or 0)


def json_headers(who: Issued) -> dict[str, str]:
    return {**who.headers, "content-type": "application/json"}


async def targets(make_customer: Any) -> list[tuple[str, str]]:
    cid = await make_customer()
    return [
        ("POST", "/v1/customers"),
        ("POST", "/v1/customers/batch"),
        ("POST", "/v1/customers/search"),
        ("PATCH", f"/v1/customers/{cid}?purpose={SELF}"),
    ]


# -- bodies --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[" * 100_000, id="100k-open-brackets"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="100k-deep-array"),
        pytest.param(b'{"a":' * 50_000 + b"1" + b"}" * 50_000, id="50k-deep-object"),
        pytest.param(b'{"full_name": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", id="in-a-field"),
    ],
)
async def test_deeply_nested_json_is_a_4xx(
    client: httpx.AsyncClient, app: Any, shop: Issued, make_customer: Any, raw: bytes
) -> None:
    for method, path in await targets(make_customer):
        before = await counts(app)
        r = await client.request(method, path, content=raw, headers=json_headers(shop))
        assert r.status_code in {400, 422}, (path, r.status_code, r.text[:200])
        body = assert_problem(r, r.status_code)
        assert "Recursion" not in r.text
        assert len(r.content) < 10_000, path  # nothing echoed back
        assert body["detail"]
        assert await counts(app) == before


async def test_nesting_the_parser_accepts_is_still_refused_by_the_schema(
    client: httpx.AsyncClient, app: Any, shop: Issued
) -> None:
    deep: Any = "x"
    for _ in range(500):
        deep = [deep]
    before = await counts(app)
    r = await client.post("/v1/customers", json=customer_body(full_name=deep), headers=shop.headers)
    assert names_field(assert_problem(r, 422, errors=True), "full_name")
    r = await client.post(
        "/v1/customers/batch", json={"items": [customer_body(address=deep)]}, headers=shop.headers
    )
    assert r.status_code in {200, 207, 422}, r.text
    assert all(item["status"] == 422 for item in r.json().get("results", [{"status": 422}]))
    assert (await counts(app))[0] == before[0]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(10**30, id="integer-past-64-bits"),
        pytest.param(-(10**400), id="huge-negative"),
    ],
)
async def test_numbers_out_of_range_are_a_4xx(
    client: httpx.AsyncClient, app: Any, shop: Issued, value: int
) -> None:
    before = await counts(app)
    for path, body in [
        ("/v1/customers", customer_body(phone=value)),
        ("/v1/customers/batch", {"items": [customer_body(phone=value)]}),
        ("/v1/customers/batch", {"items": [{"x": value}]}),
    ]:
        raw = json.dumps(body).encode()
        r = await client.post(path, content=raw, headers=json_headers(shop))
        assert r.status_code in {200, 422}, (path, r.status_code, r.text[:300])
        if r.status_code == 200:
            assert all(item["status"] == 422 for item in r.json()["results"])
        else:
            assert_problem(r, 422)
    assert (await counts(app))[0] == before[0]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[" + b"1," * 400_000 + b"1]", id="800k-array"),
        pytest.param(
            b"{" + b",".join(b'"k%d": 1' % i for i in range(80_000)) + b"}", id="80k-keys"
        ),
        pytest.param(b'{"items": [' + b",".join([b"{}"] * 300_000) + b"]}", id="300k-items"),
        pytest.param(
            b'{"items": [{' + b",".join(b'"k%d": 1' % i for i in range(80_000)) + b"}]}",
            id="80k-keys-in-one-item",
        ),
        pytest.param(b'"' + b"a" * (MIB - 100) + b'"', id="one-huge-string"),
    ],
)
async def test_huge_json_under_the_size_limit_is_a_4xx(
    client: httpx.AsyncClient, app: Any, shop: Issued, make_customer: Any, raw: bytes
) -> None:
    assert len(raw) <= MIB
    for method, path in await targets(make_customer):
        before = await counts(app)
        r = await client.request(method, path, content=raw, headers=json_headers(shop))
        assert r.status_code in {200, 400, 413, 422}, (path, r.status_code, r.text[:200])
        if r.status_code == 200:  # a batch answers each item; every one is refused
            assert path.endswith("/batch")
            assert {item["status"] for item in r.json()["results"]} == {422}
        else:
            assert_problem(r, r.status_code)
        assert len(r.content) < 200_000, (path, len(r.content))  # bounded, whatever came in
        assert await counts(app) == before


async def test_a_lying_content_length_is_judged_on_what_arrives(
    client: httpx.AsyncClient, app: Any, shop: Issued
) -> None:
    body = json.dumps(customer_body(address="a" * (2 * MIB))).encode()
    before = await counts(app)
    r = await client.post(
        "/v1/customers",
        content=body,
        headers={**json_headers(shop), "content-length": "100"},
    )
    assert_problem(r, 413)
    assert await counts(app) == before


async def test_chunked_bodies_over_the_limit_are_413_on_every_route(
    client: httpx.AsyncClient, app: Any, shop: Issued, make_customer: Any
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "'
        for _ in range(11):
            yield b"a" * 100_000
        yield b'"}'

    for method, path in await targets(make_customer):
        before = await counts(app)
        r = await client.request(method, path, content=chunks(), headers=json_headers(shop))
        assert "content-length" not in r.request.headers
        assert_problem(r, 413)
        assert await counts(app) == before


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"full_name": "\xff\xfe"}', id="ff-fe"),
        pytest.param(b'{"email": "a\xc0\xafb@example.com"}', id="overlong-slash"),
        pytest.param(b'{"phone": "\xed\xa0\x80"}', id="encoded-surrogate"),
        pytest.param(b"\xef\xbb\xbf\xff{}", id="bom-then-garbage"),
    ],
)
async def test_invalid_utf8_is_a_4xx(
    client: httpx.AsyncClient, app: Any, shop: Issued, make_customer: Any, raw: bytes
) -> None:
    for method, path in await targets(make_customer):
        before = await counts(app)
        r = await client.request(method, path, content=raw, headers=json_headers(shop))
        assert r.status_code in {400, 422}, (path, r.status_code, r.text[:200])
        assert_problem(r, r.status_code)
        assert await counts(app) == before


@pytest.mark.parametrize("field", FIELDS)
async def test_lone_surrogate_escapes_are_422(
    client: httpx.AsyncClient, app: Any, shop: Issued, field: str
) -> None:
    """``"\\ud800"`` is valid JSON but no Unicode text: it could never be encrypted as UTF-8."""
    body = json.dumps(customer_body(**{field: "PLACEHOLDER"})).replace("PLACEHOLDER", "a\\ud800b")
    before = await counts(app)
    r = await client.post("/v1/customers", content=body.encode(), headers=json_headers(shop))
    assert names_field(assert_problem(r, 422, errors=True), field)
    assert await counts(app) == before


# -- field values ----------------------------------------------------------------------------

NUL_VALUES = {
    "full_name": "Nguyễn\x00Văn Mẫu",
    "phone": "0912\x00853984",
    "email": "khach\x00mau@example.com",
    "address": "Số 1\x00 Đường Ví Dụ, Hà Nội",
}


@pytest.mark.parametrize("field", FIELDS)
async def test_nul_bytes_are_422_naming_the_field(
    client: httpx.AsyncClient, app: Any, shop: Issued, make_customer: Any, field: str
) -> None:
    before = await counts(app)
    body = customer_body(**{field: NUL_VALUES[field]})
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, field)
    assert "\x00" not in r.text
    assert "\\u0000" not in r.text
    assert await counts(app) == before
    cid = await make_customer()
    before = await counts(app)
    r = await client.patch(
        f"/v1/customers/{cid}",
        params={"purpose": SELF},
        json={field: NUL_VALUES[field]},
        headers={**shop.headers, "If-Match": "*"},
    )
    assert names_field(assert_problem(r, 422, errors=True), field)
    assert await counts(app) == before


LIMITS = {"full_name": 200, "phone": 64, "email": 512, "address": 500}


@pytest.mark.parametrize("field", FIELDS)
async def test_10000_character_fields_are_422_with_the_limit(
    client: httpx.AsyncClient, app: Any, shop: Issued, field: str
) -> None:
    before = await counts(app)
    value = {
        "full_name": "Mẫu " * 2500,
        "phone": "9" * 10_000,
        "email": "a" * 9_988 + "@example.com",
        "address": "Số 1 " * 2000,
    }[field]
    assert len(value) == 10_000
    r = await client.post(
        "/v1/customers", json=customer_body(**{field: value}), headers=shop.headers
    )
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, field)
    messages = " ".join(e["msg"] for e in problem["errors"])
    assert any(str(n) in messages for n in (LIMITS[field], 2000, 5000, 64, 512)), messages
    assert value[:50] not in r.text
    assert len(r.content) < 2000
    assert await counts(app) == before


@pytest.mark.parametrize(
    ("field", "limit"), [("full_name", 200), ("address", 500)], ids=["full_name", "address"]
)
async def test_the_text_limits_are_the_normalised_ones(
    client: httpx.AsyncClient, shop: Issued, field: str, limit: int
) -> None:
    """Over the stored limit but under the schema's cap: the message names the real limit."""
    r = await client.post(
        "/v1/customers", json=customer_body(**{field: "a" * (limit + 1)}), headers=shop.headers
    )
    problem = assert_problem(r, 422, errors=True)
    assert any(f"at most {limit} characters" in e["msg"] for e in problem["errors"])
    r = await client.post(
        "/v1/customers", json=customer_body(**{field: "a" * limit}), headers=shop.headers
    )
    assert r.status_code == 201, r.text


LITERALS = {
    "full_name": "Robert'); DROP TABLE customers;-- <script>alert(1)</script>",
    "address": "\" OR 1=1 -- ; <img src=x onerror=alert(1)> %s %(x)s {0} ${x} \\' \\x00",
}


async def test_sql_and_markup_are_stored_and_returned_literally(
    client: httpx.AsyncClient, app: Any, shop: Issued
) -> None:
    email = "o'brien+or-1=1--@example.com"
    body = customer_body(email=email, **LITERALS)
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    r = await client.get(f"/v1/customers/{cid}", params={"purpose": SELF}, headers=shop.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    fields = r.json()["fields"]
    assert fields["full_name"] == LITERALS["full_name"]
    assert fields["address"] == LITERALS["address"]
    assert fields["email"] == email
    # Byte for byte in the JSON, not HTML-escaped.
    assert b"<script>alert(1)</script>" in r.content
    # The table is still there, and search by that address finds exactly this customer.
    r = await client.post(
        "/v1/customers/search", json={"email": email, "purpose": SELF}, headers=shop.headers
    )
    assert r.status_code == 200, r.text
    assert [hit["id"] for hit in r.json()["items"]] == [cid]
    r = await client.post(
        "/v1/customers/search",
        json={"email": "' OR 1=1 --@example.com", "purpose": SELF},
        headers=shop.headers,
    )
    assert r.status_code in {200, 422}, r.text
    if r.status_code == 200:
        assert r.json()["items"] == []
    assert (await counts(app))[0] == 1


# Bidi overrides and other format characters (Unicode Cf) in a name or address: refused like
# control characters, so none is ever stored or reaches a masked or plain answer (issue 14.15).
FORMAT_VALUES = {
    "full_name": "Nguyễn Văn \u202euaM",  # shown as "Nguyễn Văn Mau"
    "address": "Số 1 Đường Ví Dụ,\u2066 Hà Nội\u2069",
}


@pytest.mark.parametrize("field", sorted(FORMAT_VALUES))
async def test_format_characters_are_422_naming_the_field(
    client: httpx.AsyncClient, app: Any, shop: Issued, make_customer: Any, field: str
) -> None:
    before = await counts(app)
    body = customer_body(**{field: FORMAT_VALUES[field]})
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, field)
    assert "\u202e" not in r.text
    assert "\u2066" not in r.text
    assert await counts(app) == before
    r = await client.post("/v1/customers/batch", json={"items": [body]}, headers=shop.headers)
    assert r.status_code == 200, r.text
    assert [item["status"] for item in r.json()["results"]] == [422]
    cid = await make_customer()
    before = await counts(app)
    r = await client.patch(
        f"/v1/customers/{cid}",
        params={"purpose": SELF},
        json={field: FORMAT_VALUES[field]},
        headers={**shop.headers, "If-Match": "*"},
    )
    assert names_field(assert_problem(r, 422, errors=True), field)
    assert await counts(app) == before


# Invisible characters outside Cf (a Hangul filler, the combining grapheme joiner, the Braille
# blank, a line separator): a name that reads as another, and an email that registered a
# second account beside the visible one. Found by the outside review of issue 14.
INVISIBLE_EXTRA = ["\u034f", "\u3164", "\u115f", "\u2800", "\u17b4", "\u2028", "\ufe0f"]


@pytest.mark.parametrize("char", INVISIBLE_EXTRA, ids=lambda c: f"U+{ord(c):04X}")
async def test_invisible_characters_are_422_and_no_second_account(
    client: httpx.AsyncClient, app: Any, shop: Issued, char: str
) -> None:
    first = customer_body(email="khach.vohinh@example.com")
    assert (await client.post("/v1/customers", json=first, headers=shop.headers)).status_code == 201
    before = await counts(app)
    twin = customer_body(email=f"khach.vohinh{char}@example.com")
    r = await client.post("/v1/customers", json=twin, headers=shop.headers)
    assert names_field(assert_problem(r, 422, errors=True), "email")
    assert char not in r.text
    for field, value in (("full_name", f"Ngô{char}Văn Mẫu"), ("address", f"Số 1{char} Hà Nội")):
        r = await client.post(
            "/v1/customers", json=customer_body(**{field: value}), headers=shop.headers
        )
        assert names_field(assert_problem(r, 422, errors=True), field)
        assert char not in r.text
    assert await counts(app) == before


async def test_letters_in_a_phone_are_422_not_keypad_digits(
    client: httpx.AsyncClient, app: Any, shop: Issued
) -> None:
    before = await counts(app)
    r = await client.post(
        "/v1/customers", json=customer_body(phone="0912 NGUYEN"), headers=shop.headers
    )
    assert names_field(assert_problem(r, 422, errors=True), "phone")
    assert "NGUYEN" not in r.text
    assert await counts(app) == before
