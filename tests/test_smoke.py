from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import TokenFactory, customer_body


async def test_create_and_read(client: httpx.AsyncClient, issue: TokenFactory, app: Any) -> None:
    shop = await issue("storefront")
    r = await client.post("/v1/customers", json=customer_body(), headers=shop.headers)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    r = await client.get(
        f"/v1/customers/{cid}", params={"purpose": "customer_self_service"}, headers=shop.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["full_name"] == "Nguyễn Văn Mẫu"
