"""One error model: RFC 9457 problem+json for every error, and X-Request-ID on every response."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring
from pdvault.crypto.provider import LocalKeyProvider
from pdvault.main import create_app
from tests.conftest import Issued, TokenFactory, access_events, customer_body
from tests.helpers import assert_problem

MIB = 1024 * 1024
SANE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


@pytest.fixture
async def boom_client(settings: Settings, keyring: Keyring) -> AsyncIterator[httpx.AsyncClient]:
    """An app with one extra route that fails unexpectedly."""
    application = create_app(settings, LocalKeyProvider(keyring))

    async def boom() -> dict[str, str]:
        raise RuntimeError("boom-secret: Nguyễn Văn Mẫu, 0912345678")

    application.add_api_route("/boom", boom, methods=["GET"])
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


@pytest.fixture
async def shop(issue: TokenFactory) -> Issued:
    return await issue("storefront")


# -- status codes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/nope", "/v1/nope", "/v1/customers/x/y/z", "/v2/customers", "/v1/nope/khach@example.com"],
)
async def test_unknown_route_404(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert_problem(r, 404)
    assert "khach@example.com" not in r.text


async def test_unknown_route_404_with_token(client: httpx.AsyncClient, shop: Issued) -> None:
    assert_problem(await client.post("/v1/nothing-here", json={}, headers=shop.headers), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/v1/customers"),
        ("PUT", "/v1/customers"),
        ("PUT", "/v1/principals"),
        ("GET", "/v1/tokens/{id}/revoke"),
        ("DELETE", "/v1/principals"),
        ("POST", "/healthz"),
    ],
)
async def test_wrong_method_405(
    client: httpx.AsyncClient, shop: Issued, method: str, path: str
) -> None:
    r = await client.request(method, path.format(id=uuid.uuid4()), headers=shop.headers)
    assert_problem(r, 405)
    assert r.headers.get("allow")


async def test_body_over_limit_with_content_length(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    body = b'{"full_name": "' + b"a" * MIB + b'"}'
    r = await client.post(
        "/v1/customers",
        content=body,
        headers={**shop.headers, "content-type": "application/json"},
    )
    assert_problem(r, 413)
    assert "aaaa" not in r.text
    # Anonymous: the limit applies before anything else.
    r = await client.post(
        "/v1/customers", content=body, headers={"content-type": "application/json"}
    )
    assert_problem(r, 413)


async def test_body_over_limit_streamed(client: httpx.AsyncClient, shop: Issued) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"full_name": "'
        for _ in range(12):
            yield b"a" * 100_000
        yield b'"}'

    r = await client.post(
        "/v1/customers",
        content=chunks(),
        headers={**shop.headers, "content-type": "application/json"},
    )
    assert "content-length" not in r.request.headers
    assert_problem(r, 413)


async def test_body_just_under_limit_is_not_413(client: httpx.AsyncClient, shop: Issued) -> None:
    pad = MIB - 200
    body = customer_body(address="a" * pad)
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    assert r.status_code != 413
    assert_problem(r, 422)  # too long an address, but judged on content, not size


@pytest.mark.parametrize(
    "raw",
    [
        b'{"full_name": "Nguy\xe1\xbb\x85n V\xc4\x83n M\xe1\xba\xabu", ',
        b"not json at all",
        b"",
        b"[1, 2, 3]",
        b'{"full_name": "Nguy\xe1\xbb\x85n", "phone": }',
    ],
)
async def test_malformed_json_422(client: httpx.AsyncClient, shop: Issued, raw: bytes) -> None:
    r = await client.post(
        "/v1/customers",
        content=raw,
        headers={**shop.headers, "content-type": "application/json"},
    )
    body = assert_problem(r, 422)
    assert body["errors"]
    assert all({"loc", "msg"} <= e.keys() for e in body["errors"])
    assert "Nguyễn" not in r.text


@pytest.mark.parametrize(
    "raw",
    [
        b'{"full_name": "Nguy\xff\xfe b\xc3\xad m\xe1\xba\xadt"}',
        b"\x06\xc3\x28\x9fnOF",  # found by the fuzzer: it was an undocumented 400
    ],
)
@pytest.mark.parametrize("path", ["/v1/customers", "/v1/complaints", "/v1/deletion-requests"])
async def test_undecodable_body_is_422(
    client: httpx.AsyncClient, shop: Issued, raw: bytes, path: str
) -> None:
    """Bytes that are not UTF-8 cannot even be parsed: the same 422 as malformed JSON (no
    operation documents a 400), naming the body and echoing nothing."""
    r = await client.post(
        path, content=raw, headers={**shop.headers, "content-type": "application/json"}
    )
    body = assert_problem(r, 422)
    assert body["errors"] == [{"loc": ["body"], "msg": "the body could not be parsed"}]
    assert "mật" not in r.text


@pytest.mark.parametrize(
    ("who", "path", "body", "loc"),
    [
        ("admin", "/v1/principals", {"name": "nhân viên\x00", "role": "employee"}, ["name"]),
        ("admin", "/v1/partners", {"name": "Giao\x00", "contract_ref": "HD-1"}, ["name"]),
        ("admin", "/v1/partners", {"name": "G", "contract_ref": "HD-1", "x\x00": 1}, ["x\ufffd"]),
        (
            "storefront",
            "/v1/complaints",
            {"category": "misuse", "channel": "hotline", "description": "khiếu nại\x00 mẫu"},
            ["description"],
        ),
        ("storefront", "/v1/customers", customer_body(full_name="A\x00 B"), ["full_name"]),
        (
            "dpo",
            "/v1/breaches",
            {"detected_at": "2026-11-25T08:00:00Z", "summary": "s", "data_categories": ["a\x00"]},
            ["data_categories", "0"],
        ),
    ],
)
async def test_nul_in_json_text_is_422_and_changes_nothing(
    client: httpx.AsyncClient,
    admin: Issued,
    shop: Issued,
    app: Any,
    issue: TokenFactory,
    who: str,
    path: str,
    body: dict[str, Any],
    loc: list[str],
) -> None:
    """PostgreSQL cannot store U+0000 in text: a NUL in a JSON string (or key) was a 503 there
    and stored as is on SQLite. It is a 422 before any handler on both engines: nothing is
    created and nothing logged. A backslash before ``u0000`` is no NUL and passes."""
    caller = {"admin": admin, "storefront": shop}.get(who) or await issue(who)
    headers = caller.headers
    before = await access_events(app)
    r = await client.post(path, json=body, headers=headers)
    problem = assert_problem(r, 422)
    msg = "text may not contain NUL (U+0000)"
    assert problem["errors"] == [{"loc": ["body", *loc], "msg": msg}]
    assert await access_events(app) == before
    r = await client.get("/v1/partners", headers=admin.headers)
    assert r.json()["items"] == []


async def test_escaped_backslash_before_u0000_is_not_a_nul(
    client: httpx.AsyncClient, admin: Issued
) -> None:
    r = await client.post(
        "/v1/partners",
        json={"name": "Giao Hàng \\u0000 Mẫu", "contract_ref": "HD-MAU-2"},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Giao Hàng \\u0000 Mẫu"


async def test_validation_error_names_fields_never_values(
    client: httpx.AsyncClient, shop: Issued
) -> None:
    bad = customer_body(email="nguyen van mau bí mật@@example.com", phone="0123 bí mật 9")
    bad.pop("address")
    r = await client.post("/v1/customers", json=bad, headers=shop.headers)
    body = assert_problem(r, 422)
    locs = {tuple(e["loc"]) for e in body["errors"]}
    assert ("body", "email") in locs
    assert ("body", "phone") in locs
    assert ("body", "address") in locs
    assert "bí mật" not in r.text
    assert "nguyen van mau" not in r.text
    assert "Nguyễn" not in r.text


async def test_unexpected_exception_500(boom_client: httpx.AsyncClient) -> None:
    r = await boom_client.get("/boom")
    assert_problem(r, 500)
    assert "boom-secret" not in r.text
    assert "RuntimeError" not in r.text
    assert "Nguyễn" not in r.text
    assert "0912345678" not in r.text
    assert SANE_ID.match(r.headers["x-request-id"])
    # The app keeps serving afterwards.
    assert (await boom_client.get("/healthz")).status_code == 200


# -- X-Request-ID -------------------------------------------------------------------------


async def test_every_response_has_request_id(
    client: httpx.AsyncClient, shop: Issued, boom_client: httpx.AsyncClient
) -> None:
    responses = {
        200: await client.get("/healthz"),
        401: await client.get("/v1/principals"),
        403: await client.get("/v1/principals", headers=shop.headers),
        404: await client.get("/nope"),
        405: await client.delete("/v1/customers"),
        413: await client.post("/v1/customers", content=b"x" * (MIB + 1), headers=shop.headers),
        415: await client.post("/v1/customers", content=b"{", headers=shop.headers),
        422: await client.post(
            "/v1/customers",
            content=b"{",
            headers={**shop.headers, "Content-Type": "application/json"},
        ),
        500: await boom_client.get("/boom"),
    }
    ids = set()
    for status, r in responses.items():
        assert r.status_code == status, (status, r.text)
        rid = r.headers.get("x-request-id")
        assert rid, status
        assert SANE_ID.match(rid)
        assert len(r.headers.get_list("x-request-id")) == 1
        ids.add(rid)
    assert len(ids) == len(responses)  # a fresh id per request


@pytest.mark.parametrize(
    "rid",
    [
        "0f0a9e2c-5b7d-4c1e-9a3f-2d8e6b4c1a7f",
        "0F0A9E2C-5B7D-4C1E-9A3F-2D8E6B4C1A7F",
        "0190a0a05b7d7c1e9a3f2d8e6b4c1a7f",  # the form pdvault generates
    ],
)
async def test_a_uuid_request_id_is_echoed(
    client: httpx.AsyncClient, shop: Issued, boom_client: httpx.AsyncClient, rid: str
) -> None:
    headers = {"X-Request-ID": rid}
    assert (await client.get("/healthz", headers=headers)).headers["x-request-id"] == rid
    assert (await client.get("/nope", headers=headers)).headers["x-request-id"] == rid
    r = await client.get("/v1/principals", headers={**headers, **shop.headers})
    assert r.status_code == 403
    assert r.headers["x-request-id"] == rid
    assert (await boom_client.get("/boom", headers=headers)).headers["x-request-id"] == rid


@pytest.mark.parametrize(
    "rid",
    [
        "req 123",
        "a" * 300,
        "A" * 129,
        "réq-1",
        "Nguyễn Văn Mẫu",
        "id\twith\ttabs",
        "<script>",
        "a/b",
        "khach@example.com",
        # Printable, short, and still personal data in the permanent log: only UUIDs are kept.
        "Nguyen-Van-Mau.0912853984",
        "req-123.abc",
        "A" * 128,
        "trace:1:2",
        "{0f0a9e2c-5b7d-4c1e-9a3f-2d8e6b4c1a7f}",
        "urn:uuid:0f0a9e2c-5b7d-4c1e-9a3f-2d8e6b4c1a7f",
        "0f0a9e2c5b7d-4c1e-9a3f-2d8e6b4c1a7f",
        "0f0a9e2c-5b7d-4c1e-9a3f-2d8e6b4c1a7f0",
    ],
)
async def test_a_request_id_other_than_a_uuid_is_replaced(
    client: httpx.AsyncClient, boom_client: httpx.AsyncClient, rid: str
) -> None:
    headers = {"X-Request-ID": rid.encode("utf-8")}
    for r in (
        await client.get("/healthz", headers=headers),
        await client.get("/nope", headers=headers),
        await boom_client.get("/boom", headers=headers),
    ):
        got = r.headers["x-request-id"]
        assert got != rid
        assert SANE_ID.match(got)


CALLER_ID = "5d1c7a3e-8b2f-4e6a-9c0d-1f2e3a4b5c6d"


async def test_request_id_links_access_events(
    client: httpx.AsyncClient,
    issue: TokenFactory,
    app: Any,
    make_customer: Callable[..., Awaitable[str]],
) -> None:
    cid = await make_customer()
    employee = await issue("employee")
    r = await client.get(
        f"/v1/customers/{cid}",
        params={"purpose": "order_confirmation"},
        headers={**employee.headers, "X-Request-ID": CALLER_ID},
    )
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"] == CALLER_ID
    events = await access_events(app, principal_id=employee.principal_id)
    assert [e["request_id"] for e in events] == [CALLER_ID]

    for smuggled in ("bad id", "Nguyen-Van-Mau.0912853984"):
        r = await client.get(
            f"/v1/customers/{uuid.uuid4()}",
            params={"purpose": "order_confirmation"},
            headers={**employee.headers, "X-Request-ID": smuggled},
        )
        generated = r.headers["x-request-id"]
        events = await access_events(app, principal_id=employee.principal_id)
        assert events[-1]["request_id"] == generated
        assert generated != smuggled
        assert uuid.UUID(generated)


# Out-of-range input reaching the database was a 503 ("storage unavailable") or, for a huge
# cursor on SQLite, a 500: bad input must be a 422 naming the parameter.
_YEAR_ZERO = "0001-01-01T00:00:00+14:00"  # year 0 once in UTC
_YEAR_10000 = "9999-12-31T23:59:59-14:00"  # year 10000 once in UTC
_HUGE_CURSOR = "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk="  # base64url of 10**23 - 1


@pytest.mark.parametrize(
    ("role", "method", "path", "params", "body"),
    [
        ("auditor", "GET", "/v1/audit/events", {"since": _YEAR_ZERO}, None),
        ("auditor", "GET", "/v1/audit/events", {"until": _YEAR_10000}, None),
        ("auditor", "GET", "/v1/audit/events", {"cursor": _HUGE_CURSOR}, None),
        (
            "auditor",
            "GET",
            "/v1/reports/compliance",
            {"since": _YEAR_ZERO, "until": "2027-01-01T00:00:00Z"},
            None,
        ),
        (
            "auditor",
            "GET",
            "/v1/reports/compliance",
            {"since": "2026-01-01T00:00:00Z", "until": _YEAR_10000},
            None,
        ),
        (
            "dpo",
            "POST",
            "/v1/breaches",
            None,
            {
                "detected_at": _YEAR_ZERO,
                "summary": "test",
                "data_categories": ["email"],
                "all_customers": True,
            },
        ),
    ],
    ids=["audit-since", "audit-until", "audit-cursor", "report-since", "report-until", "breach"],
)
async def test_out_of_range_times_and_cursors_are_422(
    client: httpx.AsyncClient,
    issue: TokenFactory,
    role: str,
    method: str,
    path: str,
    params: dict[str, str] | None,
    body: dict[str, Any] | None,
) -> None:
    who = await issue(role, f"range-{role}")
    r = await client.request(method, path, params=params, json=body, headers=who.headers)
    problem = assert_problem(r, 422)
    assert problem["errors"], problem
