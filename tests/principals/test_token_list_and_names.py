"""A principal's tokens listed for the admin (never the secret), and one name per principal."""

from __future__ import annotations

import hashlib
import uuid

import httpx

from tests.conftest import Issued, TokenFactory
from tests.helpers import assert_problem
from tests.principals.test_admin_api import _create


async def test_list_a_principals_tokens_without_the_secret(
    client: httpx.AsyncClient, admin: Issued, issue: TokenFactory
) -> None:
    shop = await issue("storefront", "shop-tokens")
    r = await client.post(
        f"/v1/principals/{shop.principal_id}/tokens",
        json={"expires_in_days": 3},
        headers=admin.headers,
    )
    second = r.json()
    assert (
        await client.post(f"/v1/tokens/{shop.token_id}/revoke", headers=admin.headers)
    ).is_success
    other = await issue("employee", "someone-else")

    r = await client.get(f"/v1/principals/{shop.principal_id}/tokens", headers=admin.headers)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [t["id"] for t in items] == sorted([shop.token_id, second["id"]])
    by_id = {t["id"]: t for t in items}
    assert set(by_id[shop.token_id]) == {
        "id",
        "principal_id",
        "created_at",
        "expires_at",
        "revoked_at",
    }
    assert by_id[shop.token_id]["revoked_at"] is not None
    assert by_id[second["id"]]["revoked_at"] is None
    assert by_id[second["id"]]["expires_at"] == second["expires_at"]
    assert all(t["principal_id"] == shop.principal_id for t in items)
    assert other.token_id not in by_id
    # Neither a token nor its hash is ever in the answer.
    for secret in (shop.token, second["token"]):
        assert secret not in r.text
        assert hashlib.sha256(secret.encode()).hexdigest() not in r.text
    assert r.json()["next_cursor"] is None

    # Paged like the principals' list.
    r = await client.get(
        f"/v1/principals/{shop.principal_id}/tokens", params={"limit": 1}, headers=admin.headers
    )
    page = r.json()
    assert len(page["items"]) == 1
    r = await client.get(
        f"/v1/principals/{shop.principal_id}/tokens",
        params={"limit": 1, "cursor": page["next_cursor"]},
        headers=admin.headers,
    )
    assert [t["id"] for t in page["items"] + r.json()["items"]] == [t["id"] for t in items]


async def test_list_tokens_of_an_unknown_principal_is_404(
    client: httpx.AsyncClient, admin: Issued
) -> None:
    r = await client.get(f"/v1/principals/{uuid.uuid4()}/tokens", headers=admin.headers)
    assert_problem(r, 404)


async def test_list_tokens_is_admin_only(client: httpx.AsyncClient, issue: TokenFactory) -> None:
    dpo = await issue("dpo", "a-dpo")
    r = await client.get(f"/v1/principals/{dpo.principal_id}/tokens", headers=dpo.headers)
    assert_problem(r, 403)


async def test_a_second_principal_with_the_same_name_is_409(
    client: httpx.AsyncClient, admin: Issued
) -> None:
    r = await _create(client, admin, name="storefront-backend", role="storefront")
    assert r.status_code == 201, r.text
    first = r.json()["id"]
    for body in (
        {"name": "storefront-backend", "role": "storefront"},
        {"name": "  storefront-backend ", "role": "employee"},  # the same name once trimmed
    ):
        r = await _create(client, admin, **body)
        problem = assert_problem(r, 409, "duplicate_principal")
        assert problem["existing_id"] == first
    r = await client.get("/v1/principals", params={"limit": 500}, headers=admin.headers)
    assert [p["name"] for p in r.json()["items"]].count("storefront-backend") == 1
    # Another name is fine.
    assert (await _create(client, admin, name="storefront-backend-2", role="storefront")).is_success
