"""Who acted as whom: an admin may issue a token for any principal, and that is attributable.

Every access event names the token that made it; a token-issue event names the issuer (its
principal), the principal the token is for and the token; the token row keeps its issuer. So a
read made with a token an admin issued for the storefront names the storefront as reader and
that token, and the token names the admin who issued it.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from pdvault.principals.models import Token
from tests.conftest import Issued, TokenFactory, access_events, customer_body


@pytest.fixture
def issue(issue_via_api: TokenFactory) -> TokenFactory:
    """Principals made through the admin API: the events checked here include theirs."""
    return issue_via_api


async def test_a_read_with_a_token_an_admin_issued_names_the_token_and_its_issuer(
    client: httpx.AsyncClient, app: Any, admin: Issued, issue: TokenFactory
) -> None:
    shop = await issue("storefront", "cửa-hàng")
    r = await client.post("/v1/customers", json=customer_body(), headers=shop.headers)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]

    # The admin issues itself a token for the storefront principal and reads with it.
    r = await client.post(
        f"/v1/principals/{shop.principal_id}/tokens",
        json={"expires_in_days": 1},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    borrowed = Issued(shop.principal_id, r.json()["token"], r.json()["id"])
    r = await client.get(
        f"/v1/customers/{cid}",
        params={"purpose": "customer_self_service"},
        headers=borrowed.headers,
    )
    assert r.status_code == 200, r.text

    # The read names the storefront as reader, and the token that made it.
    reads = await access_events(app, action="customer.read", customer_id=cid)
    assert len(reads) == 1
    assert str(reads[0]["principal_id"]) == shop.principal_id
    assert str(reads[0]["token_id"]) == borrowed.token_id

    # The token-issue event names the issuer, the principal and the token (and the issuer's
    # own token), as structured fields.
    issued = await access_events(app, action="token.create", target_token_id=borrowed.token_id)
    assert len(issued) == 1
    event = issued[0]
    assert str(event["principal_id"]) == admin.principal_id
    assert event["role"] == "admin"
    assert str(event["token_id"]) == admin.token_id
    assert str(event["target_principal_id"]) == shop.principal_id
    assert str(event["target_token_id"]) == borrowed.token_id
    assert event["basis"] is None  # nothing in free text

    # The token keeps who issued it.
    async with app.state.runtime.sessions() as session:
        row = await session.get(Token, uuid.UUID(borrowed.token_id))
        assert row is not None
        assert str(row.issued_by) == admin.principal_id


async def test_every_access_event_names_its_token(
    client: httpx.AsyncClient, app: Any, admin: Issued, issue: TokenFactory
) -> None:
    shop = await issue("storefront")
    staff = await issue("employee")
    r = await client.post("/v1/customers", json=customer_body(), headers=shop.headers)
    cid = r.json()["id"]
    await client.get(
        f"/v1/customers/{cid}", params={"purpose": "order_confirmation"}, headers=staff.headers
    )  # allowed
    await client.get(
        f"/v1/customers/{cid}", params={"purpose": "marketing"}, headers=staff.headers
    )  # denied
    by_principal = {
        admin.principal_id: admin.token_id,
        shop.principal_id: shop.token_id,
        staff.principal_id: staff.token_id,
    }
    events = await access_events(app)
    assert len(events) >= 6
    for event in events:
        assert str(event["token_id"]) == by_principal[str(event["principal_id"])], event


async def test_revoke_and_disable_events_name_their_target(
    client: httpx.AsyncClient, app: Any, admin: Issued, issue: TokenFactory
) -> None:
    shop = await issue("storefront")
    r = await client.post(f"/v1/tokens/{shop.token_id}/revoke", headers=admin.headers)
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/principals/{shop.principal_id}/disable", headers=admin.headers)
    assert r.status_code == 200, r.text
    (revoked,) = await access_events(app, action="token.revoke")
    assert str(revoked["target_token_id"]) == shop.token_id
    assert str(revoked["target_principal_id"]) == shop.principal_id
    (disabled,) = await access_events(app, action="principal.disable")
    assert str(disabled["target_principal_id"]) == shop.principal_id
    assert disabled["target_token_id"] is None
    (created,) = await access_events(app, action="principal.create")
    assert str(created["target_principal_id"]) == shop.principal_id


async def test_the_audit_api_shows_and_filters_by_token(
    client: httpx.AsyncClient, admin: Issued, issue: TokenFactory
) -> None:
    shop = await issue("storefront")
    auditor = await issue("auditor")
    r = await client.post("/v1/customers", json=customer_body(), headers=shop.headers)
    assert r.status_code == 201, r.text
    r = await client.get(
        "/v1/audit/events", params={"token_id": shop.token_id}, headers=auditor.headers
    )
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["action"] for i in items] == ["customer.create"]
    assert items[0]["token_id"] == shop.token_id
    r = await client.get(
        "/v1/audit/events",
        params={"target_token_id": shop.token_id, "action": "token.create"},
        headers=auditor.headers,
    )
    (issued,) = r.json()["items"]
    assert issued["principal_id"] == admin.principal_id
    assert issued["token_id"] == admin.token_id
    assert issued["target_principal_id"] == shop.principal_id
    assert issued["target_token_id"] == shop.token_id
