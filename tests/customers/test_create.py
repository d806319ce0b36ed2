"""POST /v1/customers: validation, consent, duplicates, roles, and the access event."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.conftest import Issued, TokenFactory, customer_body
from tests.customers.conftest import (
    RoleFactory,
    assert_response_has_no,
    count_customers,
    customer_events,
    names_field,
)
from tests.helpers import assert_problem

REQUIRED = ["full_name", "phone", "email", "address", "consents", "policy_version"]


async def test_created_body_and_event(client: httpx.AsyncClient, shop: Issued, app: Any) -> None:
    body = customer_body(consents={"processing": True, "marketing": True})
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    assert r.status_code == 201, r.text
    out = r.json()
    assert set(out) == {"id", "created_at", "consents"}
    uuid.UUID(out["id"])
    created = datetime.fromisoformat(out["created_at"].replace("Z", "+00:00"))
    assert created.utcoffset() is not None
    assert created.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert out["consents"] == {"processing": True, "marketing": True}
    assert_response_has_no(r, [body["full_name"], body["email"], body["phone"], body["address"]])

    events = await customer_events(app)
    assert len(events) == 1
    event = events[0]
    assert event["action"] == "customer.create"
    assert event["outcome"] == "allowed"
    assert event["purpose"] == "registration"
    assert event["role"] == "storefront"
    assert str(event["principal_id"]) == shop.principal_id
    assert str(event["customer_id"]) == out["id"]
    assert sorted(event["fields"]) == sorted(["full_name", "phone", "email", "address"])
    assert event["reason"] is None
    assert event["request_id"] == r.headers["x-request-id"]
    assert await count_customers(app) == 1


async def test_marketing_defaults_to_false(client: httpx.AsyncClient, shop: Issued) -> None:
    r = await client.post(
        "/v1/customers", json=customer_body(consents={"processing": True}), headers=shop.headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["consents"] == {"processing": True, "marketing": False}


@pytest.mark.parametrize("missing", REQUIRED)
async def test_each_missing_field_is_named(
    client: httpx.AsyncClient, shop: Issued, app: Any, missing: str
) -> None:
    body = customer_body()
    del body[missing]
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, missing), problem["errors"]
    assert await count_customers(app) == 0
    assert not await customer_events(app, outcome="allowed")


async def test_missing_processing_flag_is_named(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    r = await client.post(
        "/v1/customers", json=customer_body(consents={"marketing": True}), headers=shop.headers
    )
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, "processing"), problem["errors"]
    assert await count_customers(app) == 0


@pytest.mark.parametrize("processing", [False, None])
async def test_processing_not_true_creates_nothing(
    client: httpx.AsyncClient, shop: Issued, app: Any, processing: bool | None
) -> None:
    body = customer_body(consents={"processing": processing, "marketing": False})
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    problem = assert_problem(r, 422)
    if processing is False:
        assert problem["reason"] == "consent_required"
        events = await customer_events(app)
        assert len(events) == 1
        assert events[0]["outcome"] == "denied"
        assert events[0]["reason"] == "consent_required"
        assert events[0]["purpose"] == "registration"
        assert events[0]["customer_id"] is None
    assert_response_has_no(r, [body["full_name"], body["email"], body["phone"], body["address"]])
    assert await count_customers(app) == 0


@pytest.mark.parametrize("flag", ["processing", "marketing"])
@pytest.mark.parametrize("value", ["yes", "true", 1, "on"])
async def test_consent_must_be_a_json_boolean(
    client: httpx.AsyncClient, shop: Issued, app: Any, flag: str, value: object
) -> None:
    """Consent is recorded only when given as JSON true: "yes", 1 or "on" are not consent."""
    consents: dict[str, object] = {"processing": True, "marketing": False, flag: value}
    r = await client.post(
        "/v1/customers", json=customer_body(consents=consents), headers=shop.headers
    )
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, flag), problem["errors"]
    assert await count_customers(app) == 0


@pytest.mark.parametrize("policy_version", ["", None, "has space", 7])
async def test_bad_policy_version(
    client: httpx.AsyncClient, shop: Issued, app: Any, policy_version: object
) -> None:
    body = customer_body(policy_version=policy_version)
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, "policy_version")
    assert await count_customers(app) == 0


async def test_unknown_extra_key_rejected(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    secret = "ghi chú bí mật 0987 111 222"
    body = customer_body(ghi_chu=secret)
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, "ghi_chu")
    assert_response_has_no(r, [secret, body["email"], body["phone"]])
    assert await count_customers(app) == 0


async def test_unknown_consent_key_rejected(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    body = customer_body(consents={"processing": True, "marketing": False, "profiling": True})
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    assert_problem(r, 422, errors=True)
    assert await count_customers(app) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phone", "0912 853 98x"),
        ("phone", "12345"),
        ("email", "khach.mau.khong-hop-le@@example.com"),
        ("email", "khach.mau.khong.co.ten.mien"),
        ("full_name", "Nguyễn Văn Quá Dài " * 11),  # 209 chars
        ("full_name", "   "),
        ("full_name", "Nguyễn\x00Văn Mẫu"),
        ("address", "Số 9 Đường Rất Dài, " * 26),  # 520 chars
        ("address", ""),
        ("address", "Số 1\x1b Đường Ví Dụ"),
        ("full_name", 12345),
    ],
)
async def test_invalid_field_named_and_not_echoed(
    client: httpx.AsyncClient, shop: Issued, app: Any, field: str, value: object
) -> None:
    body = customer_body(**{field: value})
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, field), problem["errors"]
    leaks = [body[k] for k in ("full_name", "email", "phone", "address") if str(body[k]).strip()]
    assert_response_has_no(r, [str(v) for v in leaks])
    assert await count_customers(app) == 0


async def test_length_limits_at_the_boundary(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    ok = customer_body(full_name="Ê" * 200, address="Ô" * 500)
    r = await client.post("/v1/customers", json=ok, headers=shop.headers)
    assert r.status_code == 201, r.text
    for field, value in (("full_name", "Ê" * 201), ("address", "Ô" * 501)):
        r = await client.post(
            "/v1/customers", json=customer_body(**{field: value}), headers=shop.headers
        )
        problem = assert_problem(r, 422, errors=True)
        assert names_field(problem, field)
    assert await count_customers(app) == 1


async def test_not_json_is_a_problem(client: httpx.AsyncClient, shop: Issued, app: Any) -> None:
    r = await client.post(
        "/v1/customers",
        content=b"{not json",
        headers={**shop.headers, "Content-Type": "application/json"},
    )
    assert_problem(r, 422)
    assert await count_customers(app) == 0


async def test_duplicate_email_any_domain_case(
    client: httpx.AsyncClient, shop: Issued, staff: Issued, app: Any
) -> None:
    first = customer_body(email="khach.trung@example.com")
    r = await client.post("/v1/customers", json=first, headers=shop.headers)
    assert r.status_code == 201, r.text
    first_id = r.json()["id"]

    second = customer_body(email="khach.trung@EXAMPLE.COM", full_name="Trần Thị Mẫu")
    r = await client.post("/v1/customers", json=second, headers=staff.headers)
    problem = assert_problem(r, 409, "duplicate_customer")
    assert problem["existing_id"] == first_id
    assert_response_has_no(r, ["khach.trung", "Trần Thị Mẫu", second["phone"], first["phone"]])
    assert await count_customers(app) == 1

    denied = await customer_events(app, outcome="denied")
    assert len(denied) == 1
    assert denied[0]["reason"] == "duplicate_customer"
    assert denied[0]["action"] == "customer.create"
    assert denied[0]["role"] == "employee"
    assert str(denied[0]["customer_id"]) == first_id


async def test_same_local_part_other_case_is_another_customer(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    # Only the domain is case-insensitive; the local part is kept as given (RFC 5321).
    r = await client.post(
        "/v1/customers", json=customer_body(email="khach.b@example.com"), headers=shop.headers
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/customers", json=customer_body(email=" khach.b@Example.com "), headers=shop.headers
    )
    assert_problem(r, 409, "duplicate_customer")
    assert await count_customers(app) == 1


# -- who may create ------------------------------------------------------------------------


async def test_anonymous_gets_401(client: httpx.AsyncClient, app: Any) -> None:
    r = await client.post("/v1/customers", json=customer_body())
    assert_problem(r, 401)
    assert r.headers["www-authenticate"].lower().startswith("bearer")
    assert await count_customers(app) == 0


@pytest.mark.parametrize(
    "authorization", ["Bearer not-a-real-token", "Bearer ", "Basic dXNlcjpwYXNz", "bogus"]
)
async def test_bogus_token_gets_401(
    client: httpx.AsyncClient, app: Any, authorization: str
) -> None:
    r = await client.post(
        "/v1/customers", json=customer_body(), headers={"Authorization": authorization}
    )
    assert_problem(r, 401)
    assert "www-authenticate" in r.headers
    assert await count_customers(app) == 0


async def test_revoked_token_gets_401(
    client: httpx.AsyncClient, issue: TokenFactory, admin: Issued, app: Any
) -> None:
    shop = await issue("storefront")
    r = await client.post("/v1/customers", json=customer_body(), headers=shop.headers)
    assert r.status_code == 201, r.text
    r = await client.post(f"/v1/tokens/{shop.token_id}/revoke", headers=admin.headers)
    assert r.status_code == 200, r.text
    r = await client.post("/v1/customers", json=customer_body(), headers=shop.headers)
    assert_problem(r, 401)
    assert await count_customers(app) == 1


@pytest.mark.parametrize("role", ["admin", "partner", "legal", "dpo", "auditor"])
async def test_other_roles_get_403(
    client: httpx.AsyncClient, as_role: RoleFactory, app: Any, role: str
) -> None:
    who = await as_role(role)
    body = customer_body()
    r = await client.post("/v1/customers", json=body, headers=who.headers)
    assert_problem(r, 403, "role_not_permitted")
    assert_response_has_no(r, [body["full_name"], body["email"], body["phone"]])
    assert await count_customers(app) == 0
    events = await customer_events(app)
    assert len(events) == 1
    assert events[0]["outcome"] == "denied"
    assert events[0]["reason"] == "role_not_permitted"
    assert events[0]["role"] == role
    assert str(events[0]["principal_id"]) == who.principal_id


@pytest.mark.parametrize("role", ["storefront", "employee"])
async def test_storefront_and_employee_create(
    client: httpx.AsyncClient, issue: TokenFactory, app: Any, role: str
) -> None:
    who = await issue(role)
    r = await client.post("/v1/customers", json=customer_body(), headers=who.headers)
    assert r.status_code == 201, r.text
    assert await count_customers(app) == 1
    events = await customer_events(app, outcome="allowed")
    assert [e["role"] for e in events] == [role]
