"""GET /v1/customers/{id}: the rule table per role and purpose, and one access event per read."""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import Issued, TokenFactory, customer_body
from tests.customers.conftest import (
    RoleFactory,
    assert_response_has_no,
    customer_events,
    names_field,
    pii_of,
)
from tests.helpers import assert_problem

ALL = ["full_name", "phone", "email", "address"]
CONTACT = ["full_name", "phone", "email"]

# The fake customer every read test uses; the phone is typed the way a shop form would send it.
RAW = {
    "full_name": unicodedata.normalize("NFD", "Lê Thị Mẫu Thử"),
    "phone": "0987 654 321",
    "email": "le.thi.mau@EXAMPLE.com",
    "address": "Số 7 Ngõ Giả Định, Quận Mẫu, Đà Nẵng",
}
STORED = {
    "full_name": unicodedata.normalize("NFC", "Lê Thị Mẫu Thử"),
    "phone": "+84987654321",
    "email": "le.thi.mau@example.com",
    "address": "Số 7 Ngõ Giả Định, Quận Mẫu, Đà Nẵng",
}
VALUES = [*RAW.values(), *STORED.values(), "987654321", "le.thi.mau"]

JUSTIFICATION = "Khách yêu cầu hỗ trợ đơn hàng"


async def _create(client: httpx.AsyncClient, shop: Issued, marketing: bool = False) -> str:
    body = customer_body(**RAW, consents={"processing": True, "marketing": marketing})
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@pytest.fixture
async def cid(client: httpx.AsyncClient, shop: Issued) -> str:
    return await _create(client, shop)


async def _read(
    client: httpx.AsyncClient,
    who: Issued,
    customer_id: str,
    purpose: str | None,
    fields: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    params = {}
    if purpose is not None:
        params["purpose"] = purpose
    if fields is not None:
        params["fields"] = fields
    return await client.get(
        f"/v1/customers/{customer_id}", params=params, headers={**who.headers, **(headers or {})}
    )


async def _only_read_event(app: Any) -> dict[str, Any]:
    events = await customer_events(app, action="customer.read")
    assert len(events) == 1, events
    return events[0]


def _assert_event(
    event: dict[str, Any],
    r: httpx.Response,
    who: Issued,
    role: str,
    customer_id: str | None,
    purpose: str | None,
    outcome: str,
    reason: str | None,
    fields: list[str] | None = None,
) -> None:
    assert event["outcome"] == outcome
    assert event["reason"] == reason
    assert event["purpose"] == purpose
    assert event["role"] == role
    assert str(event["principal_id"]) == who.principal_id
    assert (str(event["customer_id"]) if event["customer_id"] else None) == customer_id
    assert event["request_id"] == r.headers["x-request-id"]
    assert set(event["fields"]) <= set(ALL)
    if fields is not None:
        assert list(event["fields"]) == fields


def _assert_allowed(r: httpx.Response, customer_id: str, purpose: str, fields: list[str]) -> None:
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"id", "purpose", "fields", "created_at", "updated_at", "version"}
    assert body["id"] == customer_id
    assert body["purpose"] == purpose
    assert body["version"] == 1
    assert sorted(body["fields"]) == sorted(fields)
    for name in fields:
        assert body["fields"][name] == STORED[name]
    assert r.headers["etag"]
    assert r.headers["cache-control"] == "no-store"


# -- employee purposes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "fields"),
    [
        ("order_confirmation", ALL),
        ("product_consultation", CONTACT),
        ("product_information", CONTACT),
    ],
)
async def test_employee_reads_the_rows_fields(
    client: httpx.AsyncClient, staff: Issued, cid: str, app: Any, purpose: str, fields: list[str]
) -> None:
    r = await _read(client, staff, cid, purpose)
    _assert_allowed(r, cid, purpose, fields)
    event = await _only_read_event(app)
    _assert_event(event, r, staff, "employee", cid, purpose, "allowed", None)
    assert sorted(event["fields"]) == sorted(fields)
    assert event["basis"]


async def test_marketing_needs_marketing_consent(
    client: httpx.AsyncClient, staff: Issued, cid: str, app: Any
) -> None:
    r = await _read(client, staff, cid, "marketing")
    assert_problem(r, 403, "consent_missing")
    assert_response_has_no(r, VALUES)
    event = await _only_read_event(app)
    _assert_event(event, r, staff, "employee", cid, "marketing", "denied", "consent_missing")


async def test_marketing_with_consent_gives_name_and_email(
    client: httpx.AsyncClient, staff: Issued, shop: Issued, app: Any
) -> None:
    cid = await _create(client, shop, marketing=True)
    r = await _read(client, staff, cid, "marketing")
    _assert_allowed(r, cid, "marketing", ["full_name", "email"])
    event = await _only_read_event(app)
    _assert_event(event, r, staff, "employee", cid, "marketing", "allowed", None)
    assert sorted(event["fields"]) == ["email", "full_name"]


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "short",
        quote("quá ngắn"),
        quote("\u200b" * 12),  # zero-width spaces: nothing a reader sees
        quote("\u200e\u2060" * 6 + "ngắn"),  # direction marks and word joiners around 4 letters
    ],
)
async def test_special_case_support_needs_justification(
    client: httpx.AsyncClient, staff: Issued, cid: str, app: Any, header: str | None
) -> None:
    headers = {} if header is None else {"X-Justification": header}
    r = await _read(client, staff, cid, "special_case_support", headers=headers)
    assert_problem(r, 403, "justification_required")
    assert_response_has_no(r, VALUES)
    event = await _only_read_event(app)
    _assert_event(
        event, r, staff, "employee", cid, "special_case_support", "denied", "justification_required"
    )


@pytest.mark.parametrize("header", [quote("\x00" * 10), quote("lý do hợp lệ\x01\x02"), "%7F" * 10])
async def test_justification_with_control_characters_is_422(
    client: httpx.AsyncClient, staff: Issued, cid: str, header: str
) -> None:
    r = await _read(client, staff, cid, "special_case_support", headers={"X-Justification": header})
    assert_problem(r, 422)
    assert_response_has_no(r, VALUES)


async def test_special_case_support_with_vietnamese_justification(
    client: httpx.AsyncClient, staff: Issued, cid: str, app: Any
) -> None:
    r = await _read(
        client,
        staff,
        cid,
        "special_case_support",
        headers={"X-Justification": quote(JUSTIFICATION)},
    )
    _assert_allowed(r, cid, "special_case_support", ALL)
    event = await _only_read_event(app)
    _assert_event(event, r, staff, "employee", cid, "special_case_support", "allowed", None)
    assert sorted(event["fields"]) == sorted(ALL)


@pytest.mark.parametrize("raw", ["Gọi lại ạ", "Khách gọi hỏi về đơn hàng"])
async def test_justification_not_percent_encoded_is_422(
    client: httpx.AsyncClient, staff: Issued, cid: str, app: Any, raw: str
) -> None:
    """Raw UTF-8 in the header arrives as Latin-1 text, each Vietnamese letter counted two or
    three times: "Gọi lại ạ" (9 characters) would pass the 10-character rule. Refused."""
    r = await _read(
        client, staff, cid, "special_case_support", headers={"X-Justification": raw.encode()}
    )
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, "X-Justification")
    assert_response_has_no(r, [*VALUES, raw])
    assert not await customer_events(app, action="customer.read", outcome="allowed")


async def test_justification_not_utf8_is_422(
    client: httpx.AsyncClient, staff: Issued, cid: str, app: Any
) -> None:
    r = await _read(
        client, staff, cid, "special_case_support", headers={"X-Justification": "%C3%28%FF%FE xyz"}
    )
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, "X-Justification")
    assert not await customer_events(app, action="customer.read", outcome="allowed")


@pytest.mark.parametrize(
    ("role", "purpose", "reason"),
    [
        ("employee", "legal_notice", "no_pending_notice"),
        ("employee", "accounting", "purpose_not_permitted"),
        ("employee", "customer_self_service", "role_not_permitted"),
        ("employee", "complaint_handling", "role_not_permitted"),
        ("employee", "order_fulfillment", "role_not_permitted"),
        ("employee", "registration", "purpose_not_permitted"),
        ("storefront", "order_confirmation", "role_not_permitted"),
        ("storefront", "marketing", "role_not_permitted"),
        ("storefront", "legal_notice", "no_pending_notice"),
        ("dpo", "complaint_handling", "no_open_case"),
        ("dpo", "data_subject_request", "no_open_case"),
        ("dpo", "judicial_disclosure", "request_not_approved"),
        ("dpo", "order_confirmation", "role_not_permitted"),
    ],
)
async def test_denied_purposes(
    client: httpx.AsyncClient,
    issue: TokenFactory,
    cid: str,
    app: Any,
    role: str,
    purpose: str,
    reason: str,
) -> None:
    who = await issue(role, f"reader-{role}")
    r = await _read(client, who, cid, purpose)
    assert_problem(r, 403, reason)
    assert "etag" not in r.headers
    assert_response_has_no(r, VALUES)
    event = await _only_read_event(app)
    _assert_event(event, r, who, role, cid, purpose, "denied", reason)


async def test_storefront_self_service_reads_all(
    client: httpx.AsyncClient, shop: Issued, cid: str, app: Any
) -> None:
    r = await _read(client, shop, cid, "customer_self_service")
    _assert_allowed(r, cid, "customer_self_service", ALL)
    event = await _only_read_event(app)
    _assert_event(event, r, shop, "storefront", cid, "customer_self_service", "allowed", None)
    assert sorted(event["fields"]) == sorted(ALL)


@pytest.mark.parametrize("purpose", [None, "", "curiosity", "ORDER_CONFIRMATION", "tò mò"])
async def test_missing_or_unknown_purpose(
    client: httpx.AsyncClient, staff: Issued, cid: str, app: Any, purpose: str | None
) -> None:
    r = await _read(client, staff, cid, purpose)
    assert_problem(r, 403, "purpose_not_permitted")
    assert_response_has_no(r, VALUES)
    event = await _only_read_event(app)
    # Free text is never logged as a purpose.
    _assert_event(event, r, staff, "employee", cid, None, "denied", "purpose_not_permitted")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ("full_name,phone", ["full_name", "phone"]),
        ("address", ["address"]),
        ("phone, email", ["phone", "email"]),
        ("email,email", ["email"]),
    ],
)
async def test_fields_subset_honoured(
    client: httpx.AsyncClient,
    staff: Issued,
    cid: str,
    app: Any,
    fields: str,
    expected: list[str],
) -> None:
    r = await _read(client, staff, cid, "order_confirmation", fields=fields)
    _assert_allowed(r, cid, "order_confirmation", expected)
    event = await _only_read_event(app)
    _assert_event(event, r, staff, "employee", cid, "order_confirmation", "allowed", None)
    assert sorted(event["fields"]) == sorted(expected)


async def test_field_outside_the_row(
    client: httpx.AsyncClient, staff: Issued, cid: str, app: Any
) -> None:
    r = await _read(client, staff, cid, "product_consultation", fields="address")
    assert_problem(r, 403, "field_not_permitted")
    assert_response_has_no(r, VALUES)
    event = await _only_read_event(app)
    _assert_event(
        event,
        r,
        staff,
        "employee",
        cid,
        "product_consultation",
        "denied",
        "field_not_permitted",
        fields=["address"],
    )


async def test_field_outside_the_row_among_allowed_ones(
    client: httpx.AsyncClient, staff: Issued, cid: str, app: Any
) -> None:
    r = await _read(client, staff, cid, "marketing", fields="full_name,phone")
    assert_problem(r, 403, "field_not_permitted")
    assert_response_has_no(r, VALUES)
    event = await _only_read_event(app)
    assert event["reason"] == "field_not_permitted"


@pytest.mark.parametrize("fields", ["bogus", "full_name,bogus", "", ",", "FULL_NAME"])
async def test_unknown_field_name_is_422(
    client: httpx.AsyncClient, staff: Issued, cid: str, app: Any, fields: str
) -> None:
    r = await _read(client, staff, cid, "order_confirmation", fields=fields)
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, "fields")
    assert_response_has_no(r, VALUES)
    assert not await customer_events(app, action="customer.read", outcome="allowed")


async def test_unknown_id_is_404(client: httpx.AsyncClient, staff: Issued, app: Any) -> None:
    unknown = str(uuid.uuid4())
    r = await _read(client, staff, unknown, "order_confirmation")
    assert_problem(r, 404)
    event = await _only_read_event(app)
    _assert_event(event, r, staff, "employee", unknown, "order_confirmation", "denied", "not_found")


async def test_unknown_id_with_forbidden_purpose_does_not_reveal_existence(
    client: httpx.AsyncClient, staff: Issued, cid: str
) -> None:
    known = await _read(client, staff, cid, "accounting")
    unknown = await _read(client, staff, str(uuid.uuid4()), "accounting")
    assert known.status_code == unknown.status_code == 403
    assert known.json()["reason"] == unknown.json()["reason"] == "purpose_not_permitted"


@pytest.mark.parametrize("bad", ["not-a-uuid", "12345", "0987654321"])
async def test_malformed_id_is_422(
    client: httpx.AsyncClient, staff: Issued, app: Any, bad: str
) -> None:
    r = await _read(client, staff, bad, "order_confirmation")
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, "customer_id")
    assert not await customer_events(app, action="customer.read", outcome="allowed")


async def test_stored_forms_are_canonical(
    client: httpx.AsyncClient, shop: Issued, cid: str
) -> None:
    r = await _read(client, shop, cid, "customer_self_service")
    assert r.status_code == 200, r.text
    got = r.json()["fields"]
    assert got["phone"] == "+84987654321"
    assert got["email"] == "le.thi.mau@example.com"
    assert got["full_name"] == unicodedata.normalize("NFC", RAW["full_name"])
    assert unicodedata.is_normalized("NFC", got["full_name"])


async def test_etag_stable_between_reads(
    client: httpx.AsyncClient, shop: Issued, staff: Issued, cid: str
) -> None:
    a = await _read(client, shop, cid, "customer_self_service")
    b = await _read(client, staff, cid, "order_confirmation", fields="phone")
    assert a.headers["etag"] == b.headers["etag"]


async def test_each_read_is_one_event(
    client: httpx.AsyncClient, staff: Issued, cid: str, app: Any
) -> None:
    for _ in range(3):
        r = await _read(client, staff, cid, "order_confirmation")
        assert r.status_code == 200
    r = await _read(client, staff, cid, "marketing")
    assert r.status_code == 403
    events = await customer_events(app, action="customer.read")
    assert [e["outcome"] for e in events] == ["allowed"] * 3 + ["denied"]
    assert len({e["request_id"] for e in events}) == 4


# -- who may read ---------------------------------------------------------------------------


async def test_anonymous_read_is_401(client: httpx.AsyncClient, cid: str, app: Any) -> None:
    r = await client.get(f"/v1/customers/{cid}", params={"purpose": "order_confirmation"})
    assert_problem(r, 401)
    assert "www-authenticate" in r.headers
    assert_response_has_no(r, VALUES)


@pytest.mark.parametrize(
    ("role", "purpose"),
    [
        ("admin", "order_confirmation"),
        ("auditor", "order_confirmation"),
        ("legal", "judicial_disclosure"),
        ("partner", "order_fulfillment"),
    ],
)
async def test_roles_without_read_access(
    client: httpx.AsyncClient, as_role: RoleFactory, cid: str, app: Any, role: str, purpose: str
) -> None:
    who = await as_role(role)
    r = await _read(client, who, cid, purpose)
    assert_problem(r, 403, "role_not_permitted")
    assert_response_has_no(r, VALUES)
    event = await _only_read_event(app)
    _assert_event(event, r, who, role, cid, purpose, "denied", "role_not_permitted")


async def test_create_left_no_value_in_responses(
    client: httpx.AsyncClient, shop: Issued, staff: Issued
) -> None:
    body = customer_body()
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    assert r.status_code == 201
    assert_response_has_no(r, pii_of(body))
