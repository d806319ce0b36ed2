"""POST /v1/customers/search: by email or phone after normalisation, under the rule table."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Issued, TokenFactory, customer_body
from tests.customers.conftest import (
    assert_response_has_no,
    customer_events,
    names_field,
)
from tests.helpers import assert_problem

PHONE_SPELLINGS = ["0976 543 210", "+84 976 543 210", "84976543210"]
E164 = "+84976543210"
EMAIL = "tran.van.thu@example.com"
NAME = "Trần Văn Thử"
ADDRESS = "Số 3 Phố Giả Lập, Huế"
VALUES = [*PHONE_SPELLINGS, E164, "976543210", EMAIL, "tran.van.thu", NAME, ADDRESS]


async def _create(client: httpx.AsyncClient, shop: Issued, **overrides: Any) -> str:
    fields = {"full_name": NAME, "phone": PHONE_SPELLINGS[0], "email": EMAIL, "address": ADDRESS}
    body = customer_body(**{**fields, **overrides})
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@pytest.fixture
async def cid(client: httpx.AsyncClient, shop: Issued) -> str:
    return await _create(client, shop)


async def _search(client: httpx.AsyncClient, who: Issued, **body: Any) -> httpx.Response:
    return await client.post("/v1/customers/search", json=body, headers=who.headers)


async def _search_events(app: Any) -> list[dict[str, Any]]:
    return await customer_events(app, action="customer.search")


@pytest.mark.parametrize("spelling", PHONE_SPELLINGS)
async def test_by_phone_any_spelling(
    client: httpx.AsyncClient, staff: Issued, cid: str, app: Any, spelling: str
) -> None:
    r = await _search(client, staff, phone=spelling, purpose="order_confirmation")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["id"] for i in items] == [cid]
    assert items[0]["fields"] == {
        "full_name": NAME,
        "phone": E164,
        "email": EMAIL,
        "address": ADDRESS,
    }
    events = await _search_events(app)
    assert len(events) == 1
    event = events[0]
    assert event["outcome"] == "allowed"
    assert str(event["customer_id"]) == cid
    assert event["purpose"] == "order_confirmation"
    assert event["role"] == "employee"
    assert sorted(event["fields"]) == sorted(["full_name", "phone", "email", "address"])
    assert event["request_id"] == r.headers["x-request-id"]


@pytest.mark.parametrize(
    "spelling", [EMAIL, "tran.van.thu@EXAMPLE.COM", " tran.van.thu@Example.com "]
)
async def test_by_email(
    client: httpx.AsyncClient, staff: Issued, cid: str, app: Any, spelling: str
) -> None:
    r = await _search(client, staff, email=spelling, purpose="product_consultation")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["id"] for i in items] == [cid]
    assert sorted(items[0]["fields"]) == ["email", "full_name", "phone"]


async def test_fields_subset(client: httpx.AsyncClient, staff: Issued, cid: str, app: Any) -> None:
    r = await _search(client, staff, email=EMAIL, purpose="order_confirmation", fields=["phone"])
    assert r.status_code == 200, r.text
    assert r.json()["items"] == [{"id": cid, "fields": {"phone": E164}}]
    events = await _search_events(app)
    assert [e["fields"] for e in events] == [["phone"]]


async def test_phone_shared_by_two_customers(
    client: httpx.AsyncClient, staff: Issued, shop: Issued, cid: str, app: Any
) -> None:
    other = await _create(client, shop, email="nguoi.nha@example.com")
    r = await _search(client, staff, phone="0976543210", purpose="product_information")
    assert r.status_code == 200, r.text
    assert sorted(i["id"] for i in r.json()["items"]) == sorted([cid, other])
    events = await _search_events(app)
    assert sorted(str(e["customer_id"]) for e in events) == sorted([cid, other])
    assert {e["outcome"] for e in events} == {"allowed"}


@pytest.mark.parametrize(
    "body",
    [
        {"purpose": "order_confirmation"},
        {"email": EMAIL, "phone": PHONE_SPELLINGS[0], "purpose": "order_confirmation"},
        {"email": None, "phone": None, "purpose": "order_confirmation"},
    ],
)
async def test_exactly_one_key(
    client: httpx.AsyncClient, staff: Issued, cid: str, app: Any, body: dict[str, Any]
) -> None:
    r = await client.post("/v1/customers/search", json=body, headers=staff.headers)
    assert_problem(r, 422, errors=True)
    assert_response_has_no(r, VALUES)
    assert not await _search_events(app)


@pytest.mark.parametrize(
    ("key", "value"),
    [("phone", "0976 543 21x"), ("phone", "12345"), ("email", "tran.van.thu@@example.com")],
)
async def test_invalid_key_is_422(
    client: httpx.AsyncClient, staff: Issued, cid: str, key: str, value: str
) -> None:
    r = await _search(client, staff, purpose="order_confirmation", **{key: value})
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, key)
    assert_response_has_no(r, [value, *VALUES])


async def test_unknown_key_is_422(client: httpx.AsyncClient, staff: Issued, cid: str) -> None:
    r = await _search(client, staff, email=EMAIL, purpose="order_confirmation", name=NAME)
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, "name")
    assert_response_has_no(r, VALUES)


async def test_missing_purpose_is_refused_and_logged(
    client: httpx.AsyncClient, staff: Issued, cid: str, app: Any
) -> None:
    """docs/decisions.md: a missing purpose is an unknown purpose (R2.1), 403 and logged,
    on a search as on a read: not a 422 that leaves no trace."""
    r = await _search(client, staff, email=EMAIL)
    assert_problem(r, 403, "purpose_not_permitted")
    assert_response_has_no(r, VALUES)
    events = await _search_events(app)
    assert [(e["outcome"], e["reason"], e["purpose"]) for e in events] == [
        ("denied", "purpose_not_permitted", None)
    ]


async def test_no_match_is_empty(
    client: httpx.AsyncClient, staff: Issued, cid: str, app: Any
) -> None:
    r = await _search(client, staff, phone="0976 000 111", purpose="order_confirmation")
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []
    r = await _search(client, staff, email="khong.ai@example.com", purpose="order_confirmation")
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []
    events = await _search_events(app)
    assert len(events) == 2
    for event in events:
        assert event["outcome"] == "allowed"
        assert event["customer_id"] is None
        assert event["fields"] == []
        assert event["purpose"] == "order_confirmation"


async def test_marketing_without_consent_is_denied(
    client: httpx.AsyncClient, staff: Issued, cid: str, app: Any
) -> None:
    r = await _search(client, staff, email=EMAIL, purpose="marketing")
    assert_problem(r, 403, "consent_missing")
    assert_response_has_no(r, [cid, *VALUES])
    events = await _search_events(app)
    assert len(events) == 1
    assert events[0]["outcome"] == "denied"
    assert events[0]["reason"] == "consent_missing"
    assert events[0]["purpose"] == "marketing"
    assert str(events[0]["customer_id"]) == cid


async def test_marketing_with_consent(
    client: httpx.AsyncClient, staff: Issued, shop: Issued, app: Any
) -> None:
    cid = await _create(client, shop, consents={"processing": True, "marketing": True})
    r = await _search(client, staff, phone=PHONE_SPELLINGS[1], purpose="marketing")
    assert r.status_code == 200, r.text
    assert r.json()["items"] == [{"id": cid, "fields": {"full_name": NAME, "email": EMAIL}}]


@pytest.mark.parametrize(
    ("role", "purpose", "reason"),
    [
        ("employee", "curiosity", "purpose_not_permitted"),
        ("employee", "accounting", "purpose_not_permitted"),
        ("employee", "customer_self_service", "role_not_permitted"),
        ("employee", "legal_notice", "no_pending_notice"),
        ("storefront", "order_confirmation", "role_not_permitted"),
        ("dpo", "complaint_handling", "no_open_case"),
        ("dpo", "data_subject_request", "no_open_case"),
    ],
)
async def test_purpose_rules_apply(
    client: httpx.AsyncClient,
    issue: TokenFactory,
    cid: str,
    app: Any,
    role: str,
    purpose: str,
    reason: str,
) -> None:
    who = await issue(role, f"searcher-{role}")
    r = await _search(client, who, email=EMAIL, purpose=purpose)
    assert_problem(r, 403, reason)
    assert_response_has_no(r, [cid, *VALUES])
    events = await _search_events(app)
    assert len(events) == 1
    assert events[0]["outcome"] == "denied"
    assert events[0]["reason"] == reason
    assert events[0]["role"] == role


async def test_field_outside_the_row(client: httpx.AsyncClient, staff: Issued, cid: str) -> None:
    r = await _search(
        client, staff, email=EMAIL, purpose="product_consultation", fields=["address"]
    )
    assert_problem(r, 403, "field_not_permitted")
    assert_response_has_no(r, VALUES)


async def test_storefront_self_service(client: httpx.AsyncClient, shop: Issued, cid: str) -> None:
    r = await _search(client, shop, phone="84976543210", purpose="customer_self_service")
    assert r.status_code == 200, r.text
    assert [i["id"] for i in r.json()["items"]] == [cid]


async def test_anonymous_is_401(client: httpx.AsyncClient, cid: str) -> None:
    r = await client.post(
        "/v1/customers/search", json={"email": EMAIL, "purpose": "order_confirmation"}
    )
    assert_problem(r, 401)
    assert_response_has_no(r, VALUES)


@pytest.mark.parametrize("role", ["admin", "auditor", "legal"])
async def test_other_roles_are_403(
    client: httpx.AsyncClient, issue: TokenFactory, cid: str, app: Any, role: str
) -> None:
    who = await issue(role)
    r = await _search(client, who, email=EMAIL, purpose="order_confirmation")
    assert_problem(r, 403, "role_not_permitted")
    assert_response_has_no(r, [cid, *VALUES])
    events = await _search_events(app)
    assert [(e["outcome"], e["reason"]) for e in events] == [("denied", "role_not_permitted")]


async def test_search_by_get_with_pii_in_url_does_not_exist(
    client: httpx.AsyncClient, staff: Issued, cid: str
) -> None:
    r = await client.get("/v1/customers/search", params={"email": EMAIL}, headers=staff.headers)
    assert r.status_code in (404, 405, 422), r.text
    assert_response_has_no(r, VALUES)
