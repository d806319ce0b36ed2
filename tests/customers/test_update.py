"""PATCH /v1/customers/{id}: If-Match, the rule table, duplicates, and the blind indexes."""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import Issued, TokenFactory, customer_body
from tests.customers.conftest import (
    RoleFactory,
    assert_response_has_no,
    customer_events,
    names_field,
)
from tests.helpers import assert_problem

SELF = {"purpose": "customer_self_service"}
NEW_ADDRESS = "Số 99 Đường Đã Sửa, Cần Thơ"


async def _create(client: httpx.AsyncClient, shop: Issued, **overrides: Any) -> str:
    r = await client.post("/v1/customers", json=customer_body(**overrides), headers=shop.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@pytest.fixture
async def cid(client: httpx.AsyncClient, shop: Issued) -> str:
    return await _create(client, shop, phone="0961 234 567", email="pham.mau@example.com")


async def _read(client: httpx.AsyncClient, shop: Issued, customer_id: str) -> httpx.Response:
    r = await client.get(f"/v1/customers/{customer_id}", params=SELF, headers=shop.headers)
    assert r.status_code == 200, r.text
    return r


async def _patch(
    client: httpx.AsyncClient,
    who: Issued,
    customer_id: str,
    body: Any,
    if_match: str | None,
    purpose: str | None = "customer_self_service",
) -> httpx.Response:
    headers = dict(who.headers)
    if if_match is not None:
        headers["If-Match"] = if_match
    params = {"purpose": purpose} if purpose is not None else {}
    return await client.patch(
        f"/v1/customers/{customer_id}", json=body, params=params, headers=headers
    )


async def test_self_service_patch(
    client: httpx.AsyncClient, shop: Issued, cid: str, app: Any
) -> None:
    before = await _read(client, shop, cid)
    etag = before.headers["etag"]
    r = await _patch(client, shop, cid, {"address": NEW_ADDRESS}, etag)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == cid
    assert body["version"] == before.json()["version"] + 1
    assert body["fields"]["address"] == NEW_ADDRESS
    assert body["fields"]["email"] == "pham.mau@example.com"
    assert r.headers["etag"]
    assert r.headers["etag"] != etag
    assert r.headers["cache-control"] == "no-store"

    after = await _read(client, shop, cid)
    assert after.json()["fields"]["address"] == NEW_ADDRESS
    assert after.json()["version"] == body["version"]
    assert after.headers["etag"] == r.headers["etag"]
    assert after.json()["updated_at"] >= before.json()["updated_at"]
    assert after.json()["created_at"] == before.json()["created_at"]

    events = await customer_events(app, action="customer.update")
    assert len(events) == 1
    event = events[0]
    assert event["outcome"] == "allowed"
    assert event["purpose"] == "customer_self_service"
    assert event["role"] == "storefront"
    assert str(event["customer_id"]) == cid
    assert set(event["fields"]) <= {"full_name", "phone", "email", "address"}
    assert "address" in event["fields"]
    assert event["request_id"] == r.headers["x-request-id"]


async def test_patch_normalises(client: httpx.AsyncClient, shop: Issued, cid: str) -> None:
    etag = (await _read(client, shop, cid)).headers["etag"]
    nfd = unicodedata.normalize("NFD", "Phạm Thị Đã Đổi")
    r = await _patch(
        client,
        shop,
        cid,
        {"full_name": nfd, "phone": "+84 961 000 222", "email": "Pham.Moi@EXAMPLE.com"},
        etag,
    )
    assert r.status_code == 200, r.text
    fields = (await _read(client, shop, cid)).json()["fields"]
    assert fields["full_name"] == unicodedata.normalize("NFC", nfd)
    assert fields["phone"] == "+84961000222"
    assert fields["email"] == "Pham.Moi@example.com"


async def test_without_if_match_is_428(
    client: httpx.AsyncClient, shop: Issued, cid: str, app: Any
) -> None:
    for if_match in (None, "", "  "):
        r = await _patch(client, shop, cid, {"address": NEW_ADDRESS}, if_match)
        assert_problem(r, 428)
        assert_response_has_no(r, [NEW_ADDRESS])
    after = await _read(client, shop, cid)
    assert after.json()["version"] == 1
    assert after.json()["fields"]["address"] != NEW_ADDRESS


async def test_stale_etag_is_412_and_nothing_changes(
    client: httpx.AsyncClient, shop: Issued, cid: str, app: Any
) -> None:
    old = (await _read(client, shop, cid)).headers["etag"]
    r = await _patch(client, shop, cid, {"address": NEW_ADDRESS}, old)
    assert r.status_code == 200, r.text

    r = await _patch(client, shop, cid, {"address": "Số 100 Đường Ghi Đè, Huế"}, old)
    assert_problem(r, 412)
    assert_response_has_no(r, [NEW_ADDRESS, "Số 100 Đường Ghi Đè, Huế", "pham.mau"])
    after = await _read(client, shop, cid)
    assert after.json()["fields"]["address"] == NEW_ADDRESS
    assert after.json()["version"] == 2

    denied = await customer_events(app, action="customer.update", outcome="denied")
    assert len(denied) == 1
    assert str(denied[0]["customer_id"]) == cid


@pytest.mark.parametrize("if_match", ['"999"', 'W/"1"', "bogus", '"0"'])
async def test_wrong_etag_is_412(
    client: httpx.AsyncClient, shop: Issued, cid: str, if_match: str
) -> None:
    r = await _patch(client, shop, cid, {"address": NEW_ADDRESS}, if_match)
    assert_problem(r, 412)
    assert (await _read(client, shop, cid)).json()["version"] == 1


@pytest.mark.parametrize("if_match", ["1", " 1 ", "7, 1", '"7", 1'])
async def test_unquoted_current_etag_is_accepted(
    client: httpx.AsyncClient, shop: Issued, cid: str, if_match: str
) -> None:
    """``If-Match: 1`` names the current version as surely as ``"1"``: not a 412 (issue 15.4)."""
    r = await _patch(client, shop, cid, {"address": NEW_ADDRESS}, if_match)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2


@pytest.mark.parametrize("if_match", ['"1', '1"', 'a"1"', '"1" "2"', "1 2"])
async def test_malformed_if_match_is_400_saying_how_to_quote(
    client: httpx.AsyncClient, shop: Issued, cid: str, if_match: str
) -> None:
    r = await _patch(client, shop, cid, {"address": NEW_ADDRESS}, if_match)
    problem = assert_problem(r, 400)
    assert 'If-Match: "1"' in problem["detail"]
    assert (await _read(client, shop, cid)).json()["version"] == 1


async def test_email_of_another_live_customer_is_409(
    client: httpx.AsyncClient, shop: Issued, cid: str, app: Any
) -> None:
    other = await _create(client, shop, email="nguoi.khac@example.com")
    etag = (await _read(client, shop, cid)).headers["etag"]
    r = await _patch(client, shop, cid, {"email": "nguoi.khac@EXAMPLE.COM"}, etag)
    problem = assert_problem(r, 409, "duplicate_customer")
    assert other not in r.text  # the other customer is not referred to
    assert "existing_id" not in problem
    assert_response_has_no(r, ["nguoi.khac", "pham.mau"])
    events = await customer_events(app, action="customer.update")
    assert len(events) == 1
    assert events[0]["outcome"] == "denied"
    assert events[0]["reason"] == "duplicate_customer"
    assert str(events[0]["customer_id"]) == cid
    assert events[0]["purpose"] == "customer_self_service"
    assert events[0]["fields"] == ["email"]
    after = await _read(client, shop, cid)
    assert after.json()["fields"]["email"] == "pham.mau@example.com"
    assert after.json()["version"] == 1
    assert (await _read(client, shop, other)).json()["fields"]["email"] == (
        "nguoi.khac@example.com"
    )


async def test_own_email_in_another_case_is_fine(
    client: httpx.AsyncClient, shop: Issued, cid: str
) -> None:
    etag = (await _read(client, shop, cid)).headers["etag"]
    r = await _patch(client, shop, cid, {"email": "pham.mau@EXAMPLE.com"}, etag)
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["email"] == "pham.mau@example.com"


async def test_blind_index_follows_the_phone(
    client: httpx.AsyncClient, shop: Issued, staff: Issued, cid: str
) -> None:
    async def found(phone: str) -> list[str]:
        r = await client.post(
            "/v1/customers/search",
            json={"phone": phone, "purpose": "order_confirmation"},
            headers=staff.headers,
        )
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await found("0961 234 567") == [cid]
    etag = (await _read(client, shop, cid)).headers["etag"]
    r = await _patch(client, shop, cid, {"phone": "0961 765 432"}, etag)
    assert r.status_code == 200, r.text
    for spelling in ("0961 765 432", "+84 961 765 432", "84961765432"):
        assert await found(spelling) == [cid]
    for spelling in ("0961 234 567", "+84961234567"):
        assert await found(spelling) == []


async def test_blind_index_follows_the_email(
    client: httpx.AsyncClient, shop: Issued, staff: Issued, cid: str
) -> None:
    etag = (await _read(client, shop, cid)).headers["etag"]
    r = await _patch(client, shop, cid, {"email": "pham.moi@example.com"}, etag)
    assert r.status_code == 200, r.text

    async def found(email: str) -> list[str]:
        r = await client.post(
            "/v1/customers/search",
            json={"email": email, "purpose": "order_confirmation"},
            headers=staff.headers,
        )
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await found("pham.moi@EXAMPLE.com") == [cid]
    assert await found("pham.mau@example.com") == []
    # The old email is free again: a new customer may register with it.
    r = await client.post(
        "/v1/customers", json=customer_body(email="pham.mau@example.com"), headers=shop.headers
    )
    assert r.status_code == 201, r.text


async def test_employee_may_not_patch(
    client: httpx.AsyncClient, shop: Issued, staff: Issued, cid: str, app: Any
) -> None:
    etag = (await _read(client, shop, cid)).headers["etag"]
    r = await _patch(client, staff, cid, {"address": NEW_ADDRESS}, etag, "order_confirmation")
    assert_problem(r, 403, "role_not_permitted")
    assert (await _read(client, shop, cid)).json()["version"] == 1
    denied = await customer_events(app, action="customer.update")
    assert [(e["outcome"], e["reason"], e["role"]) for e in denied] == [
        ("denied", "role_not_permitted", "employee")
    ]
    assert str(denied[0]["customer_id"]) == cid


@pytest.mark.parametrize("role", ["admin", "auditor", "legal", "partner"])
async def test_other_roles_may_not_patch(
    client: httpx.AsyncClient, as_role: RoleFactory, shop: Issued, cid: str, role: str
) -> None:
    who = await as_role(role)
    r = await _patch(client, who, cid, {"address": NEW_ADDRESS}, '"1"')
    assert_problem(r, 403, "role_not_permitted")
    assert (await _read(client, shop, cid)).json()["version"] == 1


async def test_dpo_without_open_request(
    client: httpx.AsyncClient, shop: Issued, dpo: Issued, cid: str, app: Any
) -> None:
    etag = (await _read(client, shop, cid)).headers["etag"]
    r = await _patch(client, dpo, cid, {"address": NEW_ADDRESS}, etag, "data_subject_request")
    assert_problem(r, 403, "no_open_case")
    assert_response_has_no(r, [NEW_ADDRESS, "pham.mau"])
    assert (await _read(client, shop, cid)).json()["version"] == 1
    denied = await customer_events(app, action="customer.update")
    assert len(denied) == 1
    assert denied[0]["outcome"] == "denied"
    assert denied[0]["reason"] == "no_open_case"
    assert denied[0]["purpose"] == "data_subject_request"


@pytest.mark.parametrize(
    ("role", "purpose", "reason"),
    [
        ("storefront", None, "purpose_not_permitted"),
        ("storefront", "order_confirmation", "purpose_not_permitted"),
        ("storefront", "registration", "purpose_not_permitted"),
        ("storefront", "data_subject_request", "role_not_permitted"),
        ("dpo", "customer_self_service", "role_not_permitted"),
    ],
)
async def test_wrong_purpose_for_a_write(
    client: httpx.AsyncClient,
    issue: TokenFactory,
    shop: Issued,
    cid: str,
    role: str,
    purpose: str | None,
    reason: str,
) -> None:
    who = shop if role == "storefront" else await issue(role)
    etag = (await _read(client, shop, cid)).headers["etag"]
    r = await _patch(client, who, cid, {"address": NEW_ADDRESS}, etag, purpose)
    assert_problem(r, 403, reason)
    assert (await _read(client, shop, cid)).json()["version"] == 1


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, None),
        ({"address": None}, None),
        ({"full_name": None, "address": NEW_ADDRESS}, None),
        ({"ghi_chu": "bí mật"}, "ghi_chu"),
        ({"consents": {"processing": True}}, "consents"),
        ({"phone": "0961 234 56x"}, "phone"),
        ({"email": "pham@@example.com"}, "email"),
        ({"full_name": "   "}, "full_name"),
        ({"address": "x" * 501}, "address"),
        ([], None),
        ("address", None),
    ],
)
async def test_invalid_body_is_422(
    client: httpx.AsyncClient, shop: Issued, cid: str, body: Any, named: str | None
) -> None:
    etag = (await _read(client, shop, cid)).headers["etag"]
    r = await _patch(client, shop, cid, body, etag)
    problem = assert_problem(r, 422, errors=True)
    if named is not None:
        assert names_field(problem, named), problem["errors"]
    assert_response_has_no(r, ["bí mật", "0961 234 56x", "pham@@example.com", "x" * 501])
    assert (await _read(client, shop, cid)).json()["version"] == 1


async def test_unknown_customer_is_404(client: httpx.AsyncClient, shop: Issued) -> None:
    r = await _patch(client, shop, str(uuid.uuid4()), {"address": NEW_ADDRESS}, '"1"')
    assert_problem(r, 404)


async def test_anonymous_is_401(client: httpx.AsyncClient, shop: Issued, cid: str) -> None:
    r = await client.patch(
        f"/v1/customers/{cid}",
        params=SELF,
        json={"address": NEW_ADDRESS},
        headers={"If-Match": '"1"'},
    )
    assert_problem(r, 401)
    assert (await _read(client, shop, cid)).json()["version"] == 1


async def test_sequential_patches_need_fresh_etags(
    client: httpx.AsyncClient, shop: Issued, cid: str
) -> None:
    etag = (await _read(client, shop, cid)).headers["etag"]
    seen = {etag}
    for n in range(3):
        r = await _patch(client, shop, cid, {"address": f"Số {n} Đường Lần Lượt, Hà Nội"}, etag)
        assert r.status_code == 200, r.text
        etag = r.headers["etag"]
        assert etag not in seen
        seen.add(etag)
    final = await _read(client, shop, cid)
    assert final.json()["version"] == 4
    assert final.json()["fields"]["address"] == "Số 2 Đường Lần Lượt, Hà Nội"
