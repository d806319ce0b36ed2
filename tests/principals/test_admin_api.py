"""Administration (docs/api.md "Administration"): principals, tokens, key status; admin only."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from pdvault.crypto.keyring import Keyring
from pdvault.models import Base
from pdvault.principals.models import Token
from tests.conftest import Issued, TokenFactory, access_events, customer_body
from tests.helpers import FakeClock, assert_problem, fake_clock

ROLES = ["admin", "storefront", "employee", "partner", "legal", "dpo", "auditor"]
NON_ADMIN_ROLES = [r for r in ROLES if r != "admin"]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@pytest.fixture
def clock(app: Any, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The principal cache's clock, for this test: moved by hand past the cache's lifetime."""
    return fake_clock(monkeypatch, app.state.runtime.principals)


async def _create(client: httpx.AsyncClient, admin: Issued, **body: Any) -> httpx.Response:
    return await client.post("/v1/principals", json=body, headers=admin.headers)


async def _new_partner(client: httpx.AsyncClient, admin: Issued) -> str:
    r = await client.post(
        "/v1/partners",
        json={"name": f"Giao Hàng Mẫu {uuid.uuid4().hex[:8]}", "contract_ref": "HD-2026-001"},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _works(client: httpx.AsyncClient, issued: Issued) -> int:
    """Status of a harmless storefront call (a search that matches nobody)."""
    r = await client.post(
        "/v1/customers/search",
        json={"email": "nobody@example.com", "purpose": "customer_self_service"},
        headers=issued.headers,
    )
    return r.status_code


# -- creating principals -------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
async def test_create_principal_for_each_role(
    client: httpx.AsyncClient, admin: Issued, role: str
) -> None:
    partner_id = await _new_partner(client, admin) if role == "partner" else None
    body: dict[str, Any] = {"name": f"  {role} Nguyễn  ", "role": role}
    if partner_id:
        body["partner_id"] = partner_id
    r = await _create(client, admin, **body)
    assert r.status_code == 201, r.text
    out = r.json()
    uuid.UUID(out["id"])
    assert out["role"] == role
    assert out["name"] == f"{role} Nguyễn"
    assert out["partner_id"] == partner_id
    assert out["disabled_at"] is None
    created = datetime.fromisoformat(out["created_at"])
    assert abs(created - datetime.now(UTC)) < timedelta(minutes=1)

    r = await client.get("/v1/principals", params={"limit": 500}, headers=admin.headers)
    assert r.status_code == 200
    listed = {p["id"]: p for p in r.json()["items"]}
    assert listed[out["id"]] == out


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"name": "p", "role": "partner"}, id="partner-without-partner_id"),
        pytest.param(
            {"name": "p", "role": "partner", "partner_id": str(uuid.uuid4())},
            id="partner-with-unknown-partner_id",
        ),
        pytest.param(
            {"name": "p", "role": "employee", "partner_id": str(uuid.uuid4())},
            id="non-partner-with-partner_id",
        ),
        pytest.param(
            {"name": "p", "role": "admin", "partner_id": str(uuid.uuid4())},
            id="admin-with-partner_id",
        ),
        pytest.param({"name": "p", "role": "superuser"}, id="unknown-role"),
        pytest.param({"name": "p", "role": "ADMIN"}, id="role-wrong-case"),
        pytest.param({"name": "", "role": "employee"}, id="empty-name"),
        pytest.param({"name": "   ", "role": "employee"}, id="blank-name"),
        pytest.param({"name": "x" * 201, "role": "employee"}, id="long-name"),
        pytest.param({"role": "employee"}, id="no-name"),
        pytest.param({"name": "p"}, id="no-role"),
        pytest.param({"name": "p", "role": "partner", "partner_id": "nope"}, id="bad-partner_id"),
        pytest.param({"name": "p", "role": "employee", "extra": 1}, id="unknown-key"),
    ],
)
async def test_create_principal_invalid(
    client: httpx.AsyncClient, admin: Issued, body: dict[str, Any]
) -> None:
    r = await client.post("/v1/principals", json=body, headers=admin.headers)
    problem = assert_problem(r, 422)
    assert problem["errors"], problem
    assert all({"loc", "msg"} <= e.keys() for e in problem["errors"])
    r = await client.get("/v1/principals", headers=admin.headers)
    assert [p["name"] for p in r.json()["items"]] == ["test-admin"]


# -- listing ------------------------------------------------------------------------------


async def test_list_pagination_visits_each_principal_once(
    client: httpx.AsyncClient, admin: Issued
) -> None:
    created = set()
    for i in range(5):
        r = await _create(client, admin, name=f"nhân viên {i}", role="employee")
        assert r.status_code == 201
        created.add(r.json()["id"])
    expected = created | {admin.principal_id}

    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        r = await client.get("/v1/principals", params=params, headers=admin.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= 2
        seen.extend(p["id"] for p in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert len(seen) == len(set(seen)) == 6
    assert set(seen) == expected
    assert pages == 3

    r = await client.get("/v1/principals", headers=admin.headers)
    assert r.json()["next_cursor"] is None
    assert {p["id"] for p in r.json()["items"]} == expected


@pytest.mark.parametrize("cursor", ["!!!", "not-a-cursor", "aGVsbG8", "%%%", "\u00e9t\u00e9"])
async def test_list_bad_cursor(client: httpx.AsyncClient, admin: Issued, cursor: str) -> None:
    r = await client.get("/v1/principals", params={"cursor": cursor}, headers=admin.headers)
    problem = assert_problem(r, 422)
    assert problem["errors"]


@pytest.mark.parametrize("limit", ["0", "501", "-1", "abc", "2.5"])
async def test_list_bad_limit(client: httpx.AsyncClient, admin: Issued, limit: str) -> None:
    r = await client.get("/v1/principals", params={"limit": limit}, headers=admin.headers)
    problem = assert_problem(r, 422)
    assert any(e["loc"][-1] == "limit" for e in problem["errors"])


async def test_list_limit_bounds_accepted(client: httpx.AsyncClient, admin: Issued) -> None:
    for limit in (1, 500):
        r = await client.get("/v1/principals", params={"limit": limit}, headers=admin.headers)
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) == 1


# -- tokens -------------------------------------------------------------------------------


async def _all_rows(app: Any) -> list[str]:
    """Every row of every application table, rendered as text."""
    out: list[str] = []
    async with app.state.runtime.sessions() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            out.extend(repr(tuple(row)) for row in rows)
    return out


async def test_issue_token_shown_once_stored_as_sha256(
    client: httpx.AsyncClient, admin: Issued, app: Any
) -> None:
    r = await _create(client, admin, name="cửa hàng", role="storefront")
    pid = r.json()["id"]
    before = datetime.now(UTC)
    r = await client.post(
        f"/v1/principals/{pid}/tokens", json={"expires_in_days": 7}, headers=admin.headers
    )
    assert r.status_code == 201, r.text
    out = r.json()
    token = out["token"]
    assert token.startswith("pdv_")
    assert len(token) >= 40
    uuid.UUID(out["id"])
    expires = datetime.fromisoformat(out["expires_at"])
    assert before + timedelta(days=7) - timedelta(minutes=1) <= expires
    assert expires <= datetime.now(UTC) + timedelta(days=7) + timedelta(minutes=1)

    issued = Issued(pid, token, out["id"])
    assert await _works(client, issued) == 200

    async with app.state.runtime.sessions() as session:
        row = await session.get(Token, uuid.UUID(out["id"]))
        assert row is not None
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert str(row.principal_id) == pid
        raw = (await session.execute(text("SELECT token_hash FROM tokens"))).scalars().all()
    assert hashlib.sha256(token.encode()).hexdigest() in raw
    dump = "\n".join(await _all_rows(app))
    secret_part = token.removeprefix("pdv_")
    assert token not in dump
    assert secret_part not in dump

    # A second token for the same principal is distinct; both work.
    r = await client.post(f"/v1/principals/{pid}/tokens", json={}, headers=admin.headers)
    assert r.status_code == 201, r.text
    second = Issued(pid, r.json()["token"], r.json()["id"])
    assert second.token != token
    default_expiry = datetime.fromisoformat(r.json()["expires_at"])
    assert default_expiry > datetime.now(UTC) + timedelta(days=89)
    assert await _works(client, second) == 200
    assert await _works(client, issued) == 200


@pytest.mark.parametrize("days", [0, -1, 3651, "soon"])
async def test_issue_token_bad_expiry(client: httpx.AsyncClient, admin: Issued, days: Any) -> None:
    r = await _create(client, admin, name="x", role="employee")
    pid = r.json()["id"]
    r = await client.post(
        f"/v1/principals/{pid}/tokens", json={"expires_in_days": days}, headers=admin.headers
    )
    assert_problem(r, 422)


async def test_disable_principal_stops_its_tokens(
    client: httpx.AsyncClient, admin: Issued, issue: TokenFactory, clock: FakeClock
) -> None:
    shop = await issue("storefront", "cửa hàng sẽ bị tắt")
    other = await issue("storefront", "cửa hàng khác")
    r = await client.post(
        f"/v1/principals/{shop.principal_id}/tokens",
        json={"expires_in_days": 1},
        headers=admin.headers,
    )
    second = Issued(shop.principal_id, r.json()["token"], r.json()["id"])
    assert await _works(client, shop) == 200
    assert await _works(client, second) == 200

    r = await client.post(f"/v1/principals/{shop.principal_id}/disable", headers=admin.headers)
    assert r.status_code == 200, r.text
    disabled_at = r.json()["disabled_at"]
    assert disabled_at is not None
    assert r.json()["id"] == shop.principal_id

    clock.advance(0.6)  # longer than the 0.5 s principal cache
    for issued in (shop, second):
        r = await client.post(
            "/v1/customers/search",
            json={"email": "nobody@example.com", "purpose": "customer_self_service"},
            headers=issued.headers,
        )
        assert_problem(r, 401)
        assert r.headers["www-authenticate"].lower().startswith("bearer")
    assert await _works(client, other) == 200

    r = await client.post(
        f"/v1/principals/{shop.principal_id}/tokens",
        json={"expires_in_days": 1},
        headers=admin.headers,
    )
    assert_problem(r, 409)

    # Disabling again is harmless and keeps the first time.
    r = await client.post(f"/v1/principals/{shop.principal_id}/disable", headers=admin.headers)
    assert r.status_code == 200
    assert r.json()["disabled_at"] == disabled_at

    r = await client.get("/v1/principals", params={"limit": 500}, headers=admin.headers)
    listed = {p["id"]: p for p in r.json()["items"]}
    assert listed[shop.principal_id]["disabled_at"] == disabled_at
    assert listed[other.principal_id]["disabled_at"] is None


async def test_revoke_token(
    client: httpx.AsyncClient, admin: Issued, issue: TokenFactory, clock: FakeClock
) -> None:
    shop = await issue("storefront")
    r = await client.post(
        f"/v1/principals/{shop.principal_id}/tokens",
        json={"expires_in_days": 1},
        headers=admin.headers,
    )
    sibling = Issued(shop.principal_id, r.json()["token"], r.json()["id"])
    assert await _works(client, shop) == 200

    r = await client.post(f"/v1/tokens/{shop.token_id}/revoke", headers=admin.headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["id"] == shop.token_id
    assert out["principal_id"] == shop.principal_id
    revoked_at = out["revoked_at"]
    assert revoked_at is not None

    clock.advance(0.6)
    assert await _works(client, shop) == 401
    assert await _works(client, sibling) == 200  # only that token

    r = await client.post(f"/v1/tokens/{shop.token_id}/revoke", headers=admin.headers)
    assert r.status_code == 200
    assert r.json()["revoked_at"] == revoked_at
    assert await _works(client, shop) == 401


async def test_revoked_admin_token_stops_admin(
    client: httpx.AsyncClient, admin: Issued, clock: FakeClock
) -> None:
    r = await _create(client, admin, name="admin thứ hai", role="admin")
    pid = r.json()["id"]
    r = await client.post(f"/v1/principals/{pid}/tokens", json={}, headers=admin.headers)
    second = Issued(pid, r.json()["token"], r.json()["id"])
    assert (await client.get("/v1/principals", headers=second.headers)).status_code == 200
    r = await client.post(f"/v1/tokens/{second.token_id}/revoke", headers=admin.headers)
    assert r.status_code == 200
    clock.advance(0.6)
    assert_problem(await client.get("/v1/principals", headers=second.headers), 401)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/principals/{id}/disable"),
        ("POST", "/v1/principals/{id}/tokens"),
        ("POST", "/v1/tokens/{id}/revoke"),
    ],
)
async def test_unknown_ids(
    client: httpx.AsyncClient, admin: Issued, method: str, path: str
) -> None:
    r = await client.request(method, path.format(id=uuid.uuid4()), headers=admin.headers)
    assert_problem(r, 404)
    r = await client.request(method, path.format(id="not-a-uuid"), headers=admin.headers)
    assert_problem(r, 422)


# -- who may call -------------------------------------------------------------------------

ADMIN_ENDPOINTS = [
    ("POST", "/v1/principals", {"name": "x", "role": "employee"}, "principal.create"),
    ("GET", "/v1/principals", None, "principal.list"),
    ("POST", "/v1/principals/{pid}/disable", None, "principal.disable"),
    ("POST", "/v1/principals/{pid}/tokens", {"expires_in_days": 1}, "token.create"),
    ("POST", "/v1/tokens/{tid}/revoke", None, "token.revoke"),
    ("GET", "/v1/admin/keys", None, "keys.status"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "action"),
    ADMIN_ENDPOINTS,
    ids=[f"{m} {p}" for m, p, _, _ in ADMIN_ENDPOINTS],
)
async def test_admin_endpoints_refuse_others(
    client: httpx.AsyncClient,
    admin: Issued,
    issue: TokenFactory,
    app: Any,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    action: str,
) -> None:
    target = await issue("employee", "mục tiêu")
    url = path.format(pid=target.principal_id, tid=target.token_id)
    kwargs: dict[str, Any] = {"json": body} if body is not None else {}

    r = await client.request(method, url, **kwargs)
    assert_problem(r, 401)
    assert "www-authenticate" in r.headers

    partner_id = await _new_partner(client, admin)
    for role in NON_ADMIN_ROLES:
        caller = await issue(role, partner_id=partner_id if role == "partner" else None)
        r = await client.request(method, url, headers=caller.headers, **kwargs)
        assert_problem(r, 403, "role_not_permitted")
        denied = await access_events(app, principal_id=caller.principal_id, outcome="denied")
        assert len(denied) == 1, (role, denied)
        assert denied[0]["action"] == action
        assert denied[0]["reason"] == "role_not_permitted"
        assert denied[0]["role"] == role

    # Nothing happened: nothing new was created, the target is neither disabled nor revoked.
    r = await client.get("/v1/principals", params={"limit": 500}, headers=admin.headers)
    items = {p["id"]: p for p in r.json()["items"]}
    assert items[target.principal_id]["disabled_at"] is None
    assert len(items) == 2 + len(NON_ADMIN_ROLES)  # admin, target, one per role
    r = await client.get(
        "/v1/customers/" + str(uuid.uuid4()),
        params={"purpose": "order_confirmation"},
        headers=target.headers,
    )
    assert r.status_code == 404, r.text  # the employee token was neither revoked nor disabled


# -- keys ---------------------------------------------------------------------------------


async def test_admin_keys_status(
    client: httpx.AsyncClient,
    admin: Issued,
    app: Any,
    keyring: Keyring,
    make_customer: Callable[..., Awaitable[str]],
) -> None:
    r = await client.get("/v1/admin/keys", headers=admin.headers)
    assert r.status_code == 200, r.text
    empty = r.json()
    assert empty["provider"] == "local"
    assert sum(v["customer_keys"] for v in empty["versions"]) == 0

    for _ in range(3):
        await make_customer()
    r = await client.get("/v1/admin/keys", headers=admin.headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["provider"] == "local"
    primary = out["primary_version"]
    assert primary == app.state.runtime.keys.primary_version
    assert [v["version"] for v in out["versions"] if v["primary"]] == [primary]
    assert {v["version"] for v in out["versions"]} >= set(app.state.runtime.keys.versions())
    by_version = {v["version"]: v["customer_keys"] for v in out["versions"]}
    assert by_version[primary] == 3
    assert sum(by_version.values()) == 3
    secrets_b64 = [*(_b64(k) for k in keyring.keks.values()), _b64(keyring.index_key)]
    assert not any(s in r.text for s in secrets_b64)


async def test_admin_cannot_read_customers(
    client: httpx.AsyncClient,
    admin: Issued,
    app: Any,
    make_customer: Callable[..., Awaitable[str]],
) -> None:
    cid = await make_customer(full_name="Trần Thị Mẫu")
    r = await client.get(
        f"/v1/customers/{cid}", params={"purpose": "order_confirmation"}, headers=admin.headers
    )
    assert_problem(r, 403, "role_not_permitted")
    assert "Trần Thị Mẫu" not in r.text
    events = await access_events(app, principal_id=admin.principal_id, customer_id=cid)
    assert len(events) == 1
    assert events[0]["outcome"] == "denied"
    assert events[0]["reason"] == "role_not_permitted"
    assert events[0]["role"] == "admin"
    assert events[0]["purpose"] == "order_confirmation"

    r = await client.post(
        "/v1/customers/search",
        json={"email": customer_body()["email"], "purpose": "order_confirmation"},
        headers=admin.headers,
    )
    assert_problem(r, 403, "role_not_permitted")
    r = await client.post("/v1/customers", json=customer_body(), headers=admin.headers)
    assert_problem(r, 403, "role_not_permitted")
