"""Object-level attacks: right role, right endpoint, wrong object or lapsed permission.

Each refusal must be exact (status and ``reason``) and must leave an access event naming the
real reason, even where the response hides it (a partner learns nothing about ids that are
not its own: no valid assignment answers exactly like a customer that does not exist).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import update

from pdvault.customers import normalize
from pdvault.judicial.models import JudicialRequest
from tests.authz.conftest import EventTail, create_partner
from tests.conftest import Issued, TokenFactory, customer_body
from tests.helpers import PROBLEM_JSON, assert_problem, fake_clock

FULFILLMENT = "order_fulfillment"


def at(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def grant(
    client: httpx.AsyncClient,
    admin: Issued,
    partner_id: str,
    fields: dict[str, str],
    *,
    valid_from: float = -1,
    valid_until: float = 30,
) -> str:
    r = await client.post(
        f"/v1/partners/{partner_id}/grants",
        json={
            "contract_ref": "HD-MAU-2026",
            "purposes": [FULFILLMENT],
            "fields": fields,
            "valid_from": at(valid_from),
            "valid_until": at(valid_until),
        },
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def assign(client: httpx.AsyncClient, staff: Issued, partner_id: str, customer: str) -> str:
    r = await client.post(
        f"/v1/partners/{partner_id}/assignments",
        json={
            "customer_id": customer,
            "purpose": FULFILLMENT,
            "reference": "DH-MAU-0001",
            "expires_at": at(7),
        },
        headers=staff.headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def partner_read(
    client: httpx.AsyncClient, who: Issued, customer: str, **params: str
) -> httpx.Response:
    return await client.get(
        f"/v1/partner/customers/{customer}",
        params={"purpose": FULFILLMENT, **params},
        headers=who.headers,
    )


def assert_one_denial(
    events: list[dict[str, Any]],
    who: Issued,
    *,
    action: str,
    reason: str,
    customer_id: str | None,
    purpose: str | None,
) -> dict[str, Any]:
    assert len(events) == 1, events
    event = events[0]
    seen = (
        event["action"],
        event["outcome"],
        event["reason"],
        str(event["principal_id"]),
        str(event["customer_id"]) if event["customer_id"] else None,
        event["purpose"],
    )
    assert seen == (action, "denied", reason, who.principal_id, customer_id, purpose), event
    return event


class Customer:
    def __init__(self, cid: str, body: dict[str, Any]) -> None:
        self.id = cid
        self.body = body
        self.phone = normalize.phone(body["phone"])

    def plain_values(self) -> list[str]:
        """Every spelling of the personal values a leak could take."""
        national = self.phone.removeprefix("+84")
        return [
            self.body["full_name"],
            self.body["email"],
            self.body["address"],
            self.body["phone"],
            self.phone,
            self.phone.removeprefix("+"),
            national,
        ]


@pytest.fixture
async def shop(issue: TokenFactory) -> Issued:
    return await issue("storefront", "attack-storefront")


@pytest.fixture
async def staff(issue: TokenFactory) -> Issued:
    return await issue("employee", "attack-employee")


@pytest.fixture
async def customer(client: httpx.AsyncClient, shop: Issued) -> Customer:
    body = customer_body(full_name="Trần Thị Mẫu", address="Số 7 Ngõ Ví Dụ, Phường Mẫu, Hà Nội")
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    assert r.status_code == 201, r.text
    return Customer(str(r.json()["id"]), body)


# -- partners ------------------------------------------------------------------------------


async def test_partner_a_cannot_read_partner_bs_assigned_customer(
    client: httpx.AsyncClient,
    admin: Issued,
    issue: TokenFactory,
    staff: Issued,
    customer: Customer,
    tail: EventTail,
) -> None:
    fields = {"full_name": "plain", "phone": "plain", "address": "plain"}
    partner_a = await create_partner(client, admin, "Giao Hàng Mẫu A")
    partner_b = await create_partner(client, admin, "Giao Hàng Mẫu B")
    await grant(client, admin, partner_a, fields)
    await grant(client, admin, partner_b, fields)
    a = await issue("partner", "partner-a", partner_a)
    b = await issue("partner", "partner-b", partner_b)
    await assign(client, staff, partner_b, customer.id)

    r = await partner_read(client, b, customer.id)
    assert r.status_code == 200, r.text  # B's customer is readable by B

    await tail.mark()
    stolen = await partner_read(client, a, customer.id)
    body = assert_problem(stolen, 404, None)
    assert_one_denial(
        await tail.new(),
        a,
        action="partner.customer.read",
        reason="assignment_missing",
        customer_id=customer.id,
        purpose=FULFILLMENT,
    )
    for value in customer.plain_values():
        assert value not in stolen.text

    nobody = str(uuid.uuid4())
    missing = await partner_read(client, a, nobody)
    assert missing.status_code == 404
    assert missing.json() == body, "a foreign customer must look exactly like no customer"
    assert missing.headers["content-type"] == stolen.headers["content-type"]
    assert_one_denial(
        await tail.new(),
        a,
        action="partner.customer.read",
        reason="assignment_missing",
        customer_id=nobody,
        purpose=FULFILLMENT,
    )


async def test_expired_grant_is_refused(
    client: httpx.AsyncClient,
    admin: Issued,
    issue: TokenFactory,
    staff: Issued,
    customer: Customer,
    tail: EventTail,
) -> None:
    partner_id = await create_partner(client, admin, "Lắp Đặt Mẫu")
    await grant(client, admin, partner_id, {"phone": "plain"}, valid_from=-60, valid_until=-1)
    partner = await issue("partner", "partner-expired", partner_id)
    await assign(client, staff, partner_id, customer.id)

    await tail.mark()
    r = await partner_read(client, partner, customer.id)
    assert_problem(r, 403, "grant_expired")
    for value in customer.plain_values():
        assert value not in r.text
    assert_one_denial(
        await tail.new(),
        partner,
        action="partner.customer.read",
        reason="grant_expired",
        customer_id=customer.id,
        purpose=FULFILLMENT,
    )


async def test_revoked_assignment_is_refused_like_no_customer(
    client: httpx.AsyncClient,
    admin: Issued,
    issue: TokenFactory,
    staff: Issued,
    customer: Customer,
    tail: EventTail,
) -> None:
    partner_id = await create_partner(client, admin, "Giao Hàng Mẫu C")
    await grant(client, admin, partner_id, {"full_name": "plain", "address": "plain"})
    partner = await issue("partner", "partner-revoked", partner_id)
    assignment = await assign(client, staff, partner_id, customer.id)
    assert (await partner_read(client, partner, customer.id)).status_code == 200

    r = await client.post(
        f"/v1/partners/{partner_id}/assignments/{assignment}/revoke", headers=staff.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"] is not None

    await tail.mark()
    refused = await partner_read(client, partner, customer.id)
    body = assert_problem(refused, 404, None)
    for value in customer.plain_values():
        assert value not in refused.text
    assert_one_denial(
        await tail.new(),
        partner,
        action="partner.customer.read",
        reason="assignment_missing",
        customer_id=customer.id,
        purpose=FULFILLMENT,
    )
    missing = await partner_read(client, partner, str(uuid.uuid4()))
    assert missing.status_code == 404
    assert missing.json() == body
    r = await client.get("/v1/partner/assignments", headers=partner.headers)
    assert r.status_code == 200
    assert r.json()["items"] == []


async def test_field_granted_masked_is_never_given_plain(
    client: httpx.AsyncClient,
    admin: Issued,
    issue: TokenFactory,
    staff: Issued,
    customer: Customer,
    tail: EventTail,
) -> None:
    partner_id = await create_partner(client, admin, "Giao Hàng Mẫu D")
    await grant(client, admin, partner_id, {"phone": "masked", "full_name": "plain"})
    partner = await issue("partner", "partner-masked", partner_id)
    await assign(client, staff, partner_id, customer.id)
    masked_phone = "*" * (len(customer.phone) - 3) + customer.phone[-3:]
    never = [v for v in customer.plain_values() if v != customer.body["full_name"]]

    await tail.mark()
    r = await partner_read(client, partner, customer.id, fields="phone")
    assert r.status_code == 200, r.text
    assert r.json()["fields"] == {"phone": masked_phone}
    assert r.json()["masked"] == ["phone"]
    (event,) = await tail.new()
    assert (event["outcome"], event["fields"], event["action"]) == (
        "allowed",
        ["phone"],
        "partner.customer.read",
    )

    r = await partner_read(client, partner, customer.id)  # the grant's default: both fields
    assert r.status_code == 200, r.text
    assert r.json()["fields"] == {"full_name": "Trần Thị Mẫu", "phone": masked_phone}
    assert r.json()["masked"] == ["phone"]
    await tail.new()

    attempts: list[tuple[dict[str, str], dict[str, str]]] = [
        ({"fields": "phone", "masked": "false"}, {}),
        ({"fields": "phone", "mode": "plain"}, {}),
        ({"fields": "phone", "plain": "true"}, {}),
        ({"fields": "phone", "unmask": "phone"}, {}),
        ({"fields": "phone:plain"}, {}),
        ({"fields": "phone=plain"}, {}),
        ({"fields": "phone", "phone": "plain"}, {}),
        ({"fields": "phone"}, {"X-Mode": "plain"}),
        ({"fields": "phone"}, {"X-Unmask": "phone"}),
        ({"fields": "phone"}, {"Prefer": "return=plain"}),
        ({"fields": "phone"}, {"X-Justification": quote("Cần số thật để giao hàng gấp")}),
    ]
    for params, headers in attempts:
        r = await client.get(
            f"/v1/partner/customers/{customer.id}",
            params={"purpose": FULFILLMENT, **params},
            headers={**partner.headers, **headers},
        )
        events = await tail.new()
        for value in never:
            assert value not in r.text, (params, headers, r.text)
        assert r.status_code in {200, 422}, (params, headers, r.text)
        if r.status_code == 200:
            assert r.json()["fields"] == {"phone": masked_phone}, (params, headers)
            assert r.json()["masked"] == ["phone"], (params, headers)
            assert [e["fields"] for e in events] == [["phone"]], (params, headers)
        else:
            assert events == [], (params, headers)

    # Another purpose, or the staff endpoint, is no way around the mask either.
    r = await partner_read(client, partner, customer.id, purpose="customer_self_service")
    assert_problem(r, 403, "role_not_permitted")
    r = await client.get(
        f"/v1/customers/{customer.id}",
        params={"purpose": "customer_self_service", "fields": "phone"},
        headers=partner.headers,
    )
    assert_problem(r, 403, "role_not_permitted")
    for value in never:
        assert value not in r.text


async def test_ungranted_field_is_refused(
    client: httpx.AsyncClient,
    admin: Issued,
    issue: TokenFactory,
    staff: Issued,
    customer: Customer,
    tail: EventTail,
) -> None:
    partner_id = await create_partner(client, admin, "Giao Hàng Mẫu E")
    await grant(client, admin, partner_id, {"phone": "masked"})
    partner = await issue("partner", "partner-narrow", partner_id)
    await assign(client, staff, partner_id, customer.id)

    await tail.mark()
    r = await partner_read(client, partner, customer.id, fields="phone,email")
    assert_problem(r, 403, "field_not_permitted")
    for value in customer.plain_values():
        assert value not in r.text
    event = assert_one_denial(
        await tail.new(),
        partner,
        action="partner.customer.read",
        reason="field_not_permitted",
        customer_id=customer.id,
        purpose=FULFILLMENT,
    )
    assert sorted(event["fields"]) == ["email", "phone"]


# -- judicial requests --------------------------------------------------------------------


def judicial_body(customer_id: str) -> dict[str, Any]:
    return {
        "authority_type": "police_investigation",
        "authority_name": "Cơ quan Cảnh sát điều tra Mẫu",
        "document_number": "45/2026/CV-MAU",
        "document_date": "2026-01-05",
        "legal_basis": "Điều mẫu, Bộ luật Tố tụng hình sự (ví dụ)",
        "case_reference": "VA-MAU-0045",
        "customer_ids": [customer_id],
        "fields": ["full_name", "phone"],
        "valid_until": at(10),
    }


async def file_request(client: httpx.AsyncClient, filer: Issued, customer_id: str) -> str:
    r = await client.post(
        "/v1/judicial-requests", json=judicial_body(customer_id), headers=filer.headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "submitted"
    return str(r.json()["id"])


async def test_disclosure_after_expiry_is_refused(
    client: httpx.AsyncClient, app: Any, issue: TokenFactory, customer: Customer, tail: EventTail
) -> None:
    legal = await issue("legal", "attack-legal")
    dpo = await issue("dpo", "attack-dpo")
    request_id = await file_request(client, legal, customer.id)
    r = await client.post(f"/v1/judicial-requests/{request_id}/approve", headers=dpo.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"

    url = f"/v1/judicial-requests/{request_id}/disclosure"
    r = await client.get(url, headers=legal.headers)
    assert r.status_code == 200, r.text
    assert r.json()["customers"] == [
        {"id": customer.id, "fields": {"full_name": "Trần Thị Mẫu", "phone": customer.phone}}
    ]

    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(JudicialRequest)
            .where(JudicialRequest.id == uuid.UUID(request_id))
            .values(valid_until=datetime.now(UTC) - timedelta(minutes=1))
        )
        await session.commit()

    for who in (legal, dpo):
        await tail.mark()
        r = await client.get(url, headers=who.headers)
        assert_problem(r, 403, "request_expired")
        for value in customer.plain_values():
            assert value not in r.text
        event = assert_one_denial(
            await tail.new(),
            who,
            action="judicial.disclose",
            reason="request_expired",
            customer_id=customer.id,
            purpose="judicial_disclosure",
        )
        assert event["basis"] == f"judicial_request:{request_id}"

    r = await client.get(url, params={"customer_id": customer.id}, headers=legal.headers)
    assert_problem(r, 403, "request_expired")


async def test_request_approved_by_its_own_filer_is_refused(
    client: httpx.AsyncClient, issue: TokenFactory, customer: Customer, tail: EventTail
) -> None:
    filer = await issue("dpo", "dpo-filer")
    other = await issue("dpo", "dpo-second")
    request_id = await file_request(client, filer, customer.id)

    for decision, body in (("approve", None), ("reject", {"reason": "Tự từ chối (ví dụ)"})):
        await tail.mark()
        r = await client.post(
            f"/v1/judicial-requests/{request_id}/{decision}", json=body, headers=filer.headers
        )
        assert_problem(r, 409, "four_eyes")
        event = assert_one_denial(
            await tail.new(),
            filer,
            action=f"judicial.{decision}",
            reason="four_eyes",
            customer_id=None,
            purpose=None,
        )
        assert event["basis"] == f"judicial_request:{request_id}"

    r = await client.get(f"/v1/judicial-requests/{request_id}", headers=other.headers)
    assert r.json()["status"] == "submitted"
    assert r.json()["decided_by"] is None

    # The refused self-approval approved nothing: the filer still cannot disclose.
    await tail.mark()
    r = await client.get(f"/v1/judicial-requests/{request_id}/disclosure", headers=filer.headers)
    assert_problem(r, 403, "request_not_approved")
    for value in customer.plain_values():
        assert value not in r.text
    assert_one_denial(
        await tail.new(),
        filer,
        action="judicial.disclose",
        reason="request_not_approved",
        customer_id=customer.id,
        purpose="judicial_disclosure",
    )

    r = await client.post(f"/v1/judicial-requests/{request_id}/approve", headers=other.headers)
    assert r.status_code == 200, r.text
    assert r.json()["decided_by"] == other.principal_id


# -- principals ---------------------------------------------------------------------------


async def test_token_of_disabled_principal_is_refused(
    client: httpx.AsyncClient,
    admin: Issued,
    issue: TokenFactory,
    customer: Customer,
    tail: EventTail,
    app: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = fake_clock(monkeypatch, app.state.runtime.principals)
    staff = await issue("employee", "attack-employee-disabled")
    url = f"/v1/customers/{customer.id}"
    params = {"purpose": "order_confirmation"}
    r = await client.get(url, params=params, headers=staff.headers)
    assert r.status_code == 200, r.text

    r = await client.post(f"/v1/principals/{staff.principal_id}/disable", headers=admin.headers)
    assert r.status_code == 200, r.text
    clock.advance(0.6)  # past the per-worker principal cache (0.5 s in tests)

    await tail.mark()
    r = await client.get(url, params=params, headers=staff.headers)
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith(PROBLEM_JSON)
    for value in customer.plain_values():
        assert value not in r.text
    assert_one_denial(
        await tail.new(),
        staff,
        action="auth.token",
        reason="principal_disabled",
        customer_id=customer.id,
        purpose="order_confirmation",
    )
