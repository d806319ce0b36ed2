"""GET /v1/customers/{id}/documents: metadata only, cursor-paged, every call logged."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Issued, TokenFactory
from tests.documents.conftest import PDF, Upload, document_events
from tests.helpers import assert_problem

MakeCustomer = Callable[..., Awaitable[str]]


@pytest.mark.parametrize("role", ["storefront", "employee", "dpo"])
async def test_list_pages_metadata_only(
    app: Any,
    client: httpx.AsyncClient,
    upload: Upload,
    shop: Issued,
    issue: TokenFactory,
    make_customer: MakeCustomer,
    role: str,
) -> None:
    cid, other = await make_customer(), await make_customer()
    ids = []
    for n in range(5):
        r = await upload(shop, cid, PDF, order_ref=f"DH-MAU-{n}")
        ids.append(r.json()["id"])
    await upload(shop, other, PDF)
    caller = await issue(role)
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = await client.get(
            f"/v1/customers/{cid}/documents", params=params, headers=caller.headers
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"items", "next_cursor"}
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [d["id"] for d in seen] == ids
    assert [d["order_ref"] for d in seen] == [f"DH-MAU-{n}" for n in range(5)]
    assert all(set(d) == set(seen[0]) for d in seen)
    assert not {"ciphertext", "wrapped_dek", "kek_version", "file"} & set(seen[0])
    assert "JVBER" not in r.text  # no base64 of the PDF either
    events = await document_events(app, action="document.list")
    assert len(events) == 3
    assert {(e["outcome"], str(e["customer_id"]), e["role"]) for e in events} == {
        ("allowed", cid, role)
    }


async def test_list_of_unknown_customer_is_404_and_logged(
    app: Any, client: httpx.AsyncClient, shop: Issued
) -> None:
    cid = str(uuid.uuid4())
    r = await client.get(f"/v1/customers/{cid}/documents", headers=shop.headers)
    assert_problem(r, 404)
    events = await document_events(app, action="document.list")
    assert [(e["outcome"], e["reason"], str(e["customer_id"])) for e in events] == [
        ("denied", "not_found", cid)
    ]


async def test_bad_cursor_is_422(
    client: httpx.AsyncClient, shop: Issued, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    r = await client.get(
        f"/v1/customers/{cid}/documents", params={"cursor": "!!"}, headers=shop.headers
    )
    assert_problem(r, 422)


@pytest.mark.parametrize("role", ["admin", "auditor", "legal"])
async def test_roles_outside_the_list_endpoint(
    app: Any,
    client: httpx.AsyncClient,
    issue: TokenFactory,
    make_customer: MakeCustomer,
    role: str,
) -> None:
    cid = await make_customer()
    r = await client.get(f"/v1/customers/{cid}/documents", headers=(await issue(role)).headers)
    assert_problem(r, 403, "role_not_permitted")
    r = await client.post(
        f"/v1/customers/{cid}/documents",
        files={"file": ("a.pdf", PDF, "application/pdf")},
        data={"kind": "invoice", "order_ref": "DH-1"},
        headers=(await issue(role, f"{role}-2")).headers,
    )
    assert_problem(r, 403, "role_not_permitted")
    events = await document_events(app)
    assert [(e["action"], e["reason"]) for e in events] == [
        ("document.list", "role_not_permitted"),
        ("document.upload", "role_not_permitted"),
    ]
