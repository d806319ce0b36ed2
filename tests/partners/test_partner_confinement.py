"""A partner token reaches its two endpoints and nothing else: 403 role_not_permitted."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pdvault.config import Settings
from pdvault.main import create_app
from tests.conftest import Issued, TokenFactory, access_events
from tests.helpers import ROUTE_METHODS, assert_problem, walk_routes
from tests.partners.conftest import create_partner

PUBLIC = {"/healthz", "/readyz", "/metrics", "/v1/policy", "/openapi.json", "/redoc"}
PARTNER_OWN = {"/v1/partner/assignments", "/v1/partner/customers/{customer_id}"}


def endpoints(app: FastAPI) -> list[tuple[str, str]]:
    found = set(walk_routes(app.routes))
    for path, operations in app.openapi()["paths"].items():
        found |= {(m.upper(), path) for m in operations if m.upper() in ROUTE_METHODS}
    return sorted(
        (m, p)
        for m, p in found
        if p not in PUBLIC
        and p not in PARTNER_OWN
        and not p.startswith("/docs")
        and not p.startswith(CONSOLE)
    )


# The console's pages take no bearer token (a signed-in session's cookie): a partner is
# refused at its sign-in (tests/console/test_sessions.py), and its token opens no page
# (test_a_partner_token_opens_no_console_page below).
CONSOLE = "/console"


def _collection_app() -> FastAPI:
    settings = Settings(
        database_url="sqlite+aiosqlite:///:memory:",
        data_dir=Path("/nonexistent-pdvault-collection"),
        _env_file=None,
    )
    return create_app(settings)


PROTECTED = endpoints(_collection_app())


def fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


@pytest.fixture
async def partner_token(client: httpx.AsyncClient, admin: Issued, issue: TokenFactory) -> Issued:
    partner = await create_partner(client, admin)
    return await issue("partner", "hệ-thống-đối-tác", partner_id=partner["id"])


def test_the_endpoint_list_is_complete(app: Any) -> None:
    """The list is the running app's, and holds every capability known today."""
    assert endpoints(app) == PROTECTED
    paths = {p for _, p in PROTECTED}
    for expected in (
        "/v1/customers",
        "/v1/customers/{customer_id}",
        "/v1/customers/search",
        "/v1/partners",
        "/v1/partners/{partner_id}/grants",
        "/v1/partners/{partner_id}/assignments",
        "/v1/principals",
        "/v1/tokens/{token_id}/revoke",
        "/v1/admin/keys",
        "/v1/judicial-requests",
    ):
        assert expected in paths


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
async def test_partner_token_is_refused(
    app: Any, client: httpx.AsyncClient, partner_token: Issued, method: str, path: str
) -> None:
    target = fill(path)
    body: dict[str, Any] | None = {} if method in {"POST", "PUT", "PATCH"} else None
    before = await access_events(app)
    r = await client.request(method, target, json=body, headers=partner_token.headers)
    assert_problem(r, 403, "role_not_permitted")
    new = (await access_events(app))[len(before) :]
    assert len(new) == 1, new
    assert new[0]["role"] == "partner"
    assert str(new[0]["principal_id"]) == partner_token.principal_id
    assert new[0]["outcome"] == "denied"
    assert new[0]["reason"] == "role_not_permitted"


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
async def test_partner_token_is_refused_with_query_and_valid_looking_ids(
    client: httpx.AsyncClient,
    admin: Issued,
    partner_token: Issued,
    make_customer: Any,
    method: str,
    path: str,
) -> None:
    """Real ids (its own partner, a live customer) and a purpose do not open anything either."""
    me = (await client.get("/v1/principals", params={"limit": 500}, headers=admin.headers)).json()
    partner_id = next(p["partner_id"] for p in me["items"] if p["role"] == "partner")
    cid = await make_customer()
    target = path.replace("{partner_id}", partner_id).replace("{customer_id}", cid)
    target = fill(target)
    body: dict[str, Any] | None = {} if method in {"POST", "PUT", "PATCH"} else None
    r = await client.request(
        method,
        target,
        params={"purpose": "order_fulfillment"},
        json=body,
        headers=partner_token.headers,
    )
    assert_problem(r, 403, "role_not_permitted")


async def test_a_partner_token_opens_no_console_page(
    app: Any, client: httpx.AsyncClient, partner_token: Issued
) -> None:
    """A bearer token is not a console session: every console page sends it to sign-in."""
    pages = sorted(
        {p for m, p in walk_routes(app.routes) if m == "GET" and p.startswith(CONSOLE)}
        - {f"{CONSOLE}/sign-in", f"{CONSOLE}/static/{{name}}"}
    )
    assert f"{CONSOLE}/audit/events" in pages, pages
    for path in pages:
        r = await client.get(fill(path), headers=partner_token.headers, follow_redirects=True)
        assert [h.status_code for h in r.history][:1] == [303], path
        assert (r.status_code, r.url.path) == (200, f"{CONSOLE}/sign-in"), path
