"""A partner's view of its assigned customers (docs/policy.md R4.1, row order_fulfillment)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from pdvault.customers.models import Consent
from pdvault.db import new_id
from pdvault.partners.masking import mask_address, mask_email, mask_full_name, mask_phone
from pdvault.partners.models import Assignment
from tests.conftest import Issued, TokenFactory, access_events
from tests.helpers import assert_problem
from tests.partners.conftest import (
    ALL_PLAIN,
    assign,
    create_grant,
    create_partner,
    iso,
    mark_erased,
    now,
)

READ = "partner.customer.read"
MakeCustomer = Callable[..., Awaitable[str]]


@dataclass
class Partner:
    id: str
    who: Issued
    grant_ids: list[str]


@dataclass
class World:
    a: Partner  # full_name masked, phone plain, address masked
    b: Partner  # everything plain
    shop: Issued
    staff: Issued


PartnerFactory = Callable[..., Awaitable[Partner]]


@pytest.fixture
def new_partner(client: httpx.AsyncClient, admin: Issued, issue: TokenFactory) -> PartnerFactory:
    """A partner, its principal and token, and the grants given (as field maps or bodies)."""

    async def _new(*grants: dict[str, Any]) -> Partner:
        partner = await create_partner(client, admin)
        who = await issue("partner", f"hệ-thống-{partner['name']}", partner_id=partner["id"])
        ids = [(await create_grant(client, admin, partner["id"], **g))["id"] for g in grants]
        return Partner(partner["id"], who, ids)

    return _new


@pytest.fixture
async def world(issue: TokenFactory, new_partner: PartnerFactory) -> World:
    a = await new_partner(
        {"fields": {"full_name": "masked", "phone": "plain", "address": "masked"}}
    )
    b = await new_partner({"fields": dict(ALL_PLAIN)})
    return World(a, b, await issue("storefront", "cửa-hàng"), await issue("employee", "nhân-viên"))


async def stored(client: httpx.AsyncClient, shop: Issued, customer_id: str) -> dict[str, str]:
    """The customer's stored (normalised) values, as the storefront reads them."""
    r = await client.get(
        f"/v1/customers/{customer_id}",
        params={"purpose": "customer_self_service"},
        headers=shop.headers,
    )
    assert r.status_code == 200, r.text
    fields: dict[str, str] = r.json()["fields"]
    return fields


async def read(
    app: Any,
    client: httpx.AsyncClient,
    who: Issued,
    customer_id: str,
    **params: str | None,
) -> tuple[httpx.Response, dict[str, Any]]:
    """A partner read (purpose order_fulfillment unless given) and the one event it left."""
    given = {"purpose": "order_fulfillment", **params}
    query = {k: v for k, v in given.items() if v is not None}
    before = await access_events(app)
    r = await client.get(f"/v1/partner/customers/{customer_id}", params=query, headers=who.headers)
    after = await access_events(app)
    new = after[len(before) :]
    assert len(new) == 1, new
    event = new[0]
    assert event["action"] == READ
    assert event["role"] == "partner"
    assert str(event["principal_id"]) == who.principal_id
    assert str(event["customer_id"]) == customer_id
    return r, event


def assert_denied(
    event: dict[str, Any], reason: str, purpose: str | None = "order_fulfillment"
) -> None:
    assert event["outcome"] == "denied"
    assert event["reason"] == reason
    assert event["purpose"] == purpose
    assert event["basis"] is None


async def assert_like_missing(
    app: Any, client: httpx.AsyncClient, who: Issued, r: httpx.Response, event: dict[str, Any]
) -> None:
    """The answer is exactly the one for a random id; the event records the real reason."""
    assert_denied(event, "assignment_missing")
    ghost, ghost_event = await read(app, client, who, str(uuid.uuid4()))
    assert_denied(ghost_event, "assignment_missing")
    assert r.status_code == ghost.status_code == 404
    assert r.content == ghost.content
    assert r.json() == ghost.json()
    assert {k: v for k, v in r.headers.items() if k != "x-request-id"} == {
        k: v for k, v in ghost.headers.items() if k != "x-request-id"
    }
    body = r.json()
    assert body["status"] == 404
    assert "reason" not in body  # nothing hints at why


async def insert_expired_assignment(app: Any, partner_id: str, customer_id: str) -> str:
    """The API refuses a past expiry, so an assignment that has lapsed is written directly."""
    aid = new_id()
    async with app.state.runtime.sessions() as session:
        session.add(
            Assignment(
                id=aid,
                partner_id=uuid.UUID(partner_id),
                customer_id=uuid.UUID(customer_id),
                purpose="order_fulfillment",
                reference="DH-HET-HAN",
                expires_at=now() - timedelta(hours=1),
                created_at=now() - timedelta(days=2),
            )
        )
        await session.commit()
    return str(aid)


# -- what a partner sees ------------------------------------------------------------------------


async def test_granted_fields_plain_or_masked(
    app: Any, client: httpx.AsyncClient, world: World, make_customer: MakeCustomer
) -> None:
    cid = await make_customer(
        full_name="  Trần   Thị Hồng ",
        phone="0912 345 678",
        address="Số 12 Ngõ 34 Phố Mẫu, Phường Láng Hạ, Quận Đống Đa, Hà Nội ",
    )
    aid = (await assign(client, world.staff, world.a.id, cid))["id"]
    values = await stored(client, world.shop, cid)

    r, event = await read(app, client, world.a.who, cid)
    assert r.status_code == 200, r.text
    out = r.json()
    assert set(out) == {"id", "purpose", "fields", "masked"}
    assert out["id"] == cid
    assert out["purpose"] == "order_fulfillment"
    assert out["fields"] == {
        "full_name": mask_full_name(values["full_name"]),
        "phone": values["phone"],
        "address": mask_address(values["address"]),
    }
    # The same, spelled out.
    assert out["fields"] == {
        "full_name": "T. T. Hồng",
        "phone": "+84912345678",
        "address": "Hà Nội",
    }
    assert sorted(out["masked"]) == ["address", "full_name"]
    assert values["email"] not in r.text
    assert values["full_name"] not in r.text
    assert "Láng Hạ" not in r.text
    assert r.headers.get("cache-control") in (None, "no-store")

    assert event["outcome"] == "allowed"
    assert event["reason"] is None
    assert event["purpose"] == "order_fulfillment"
    assert event["basis"] == f"assignment:{aid}"
    assert sorted(event["fields"]) == ["address", "full_name", "phone"]


async def test_all_plain_grant_shows_stored_values(
    app: Any, client: httpx.AsyncClient, world: World, make_customer: MakeCustomer
) -> None:
    cid = await make_customer(full_name="Đỗ Ưu Đàm", phone="028 3822 1234")
    aid = (await assign(client, world.shop, world.b.id, cid))["id"]
    r, event = await read(app, client, world.b.who, cid)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "id": cid,
        "purpose": "order_fulfillment",
        "fields": await stored(client, world.shop, cid),
        "masked": [],
    }
    assert r.json()["fields"]["phone"] == "+842838221234"
    assert event["outcome"] == "allowed"
    assert event["basis"] == f"assignment:{aid}"
    assert sorted(event["fields"]) == sorted(ALL_PLAIN)


async def test_every_field_masked(
    app: Any,
    client: httpx.AsyncClient,
    world: World,
    new_partner: PartnerFactory,
    make_customer: MakeCustomer,
) -> None:
    c = await new_partner({"fields": dict.fromkeys(ALL_PLAIN, "masked")})
    cid = await make_customer(
        full_name="Công Tằng Tôn Nữ Mẫu",
        phone="0987 654 321",
        email="Khach.Mau.Dac.Biet@Example.COM",
        address="12 Nguyễn Huệ, Phường Bến Nghé, Quận 1, TP. Hồ Chí Minh",
    )
    await assign(client, world.staff, c.id, cid)
    values = await stored(client, world.shop, cid)
    r, event = await read(app, client, c.who, cid)
    assert r.status_code == 200, r.text
    assert r.json()["fields"] == {
        "full_name": mask_full_name(values["full_name"]),
        "phone": mask_phone(values["phone"]),
        "email": mask_email(values["email"]),
        "address": mask_address(values["address"]),
    }
    assert r.json()["fields"] == {
        "full_name": "C. T. T. N. Mẫu",
        "phone": "*********321",
        "email": "K***@example.com",
        "address": "TP. Hồ Chí Minh",
    }
    assert sorted(r.json()["masked"]) == sorted(ALL_PLAIN)
    assert event["outcome"] == "allowed"


async def test_fields_subset_and_masked_stays_masked(
    app: Any, client: httpx.AsyncClient, world: World, make_customer: MakeCustomer
) -> None:
    cid = await make_customer(full_name="Nguyễn Văn An")
    aid = (await assign(client, world.staff, world.a.id, cid))["id"]
    values = await stored(client, world.shop, cid)

    r, event = await read(app, client, world.a.who, cid, fields="phone")
    assert r.status_code == 200, r.text
    assert r.json()["fields"] == {"phone": values["phone"]}
    assert r.json()["masked"] == []
    assert event["fields"] == ["phone"]
    assert event["basis"] == f"assignment:{aid}"

    # Asking for a masked field by name does not unmask it.
    r, event = await read(app, client, world.a.who, cid, fields="full_name")
    assert r.status_code == 200, r.text
    assert r.json()["fields"] == {"full_name": "N. V. An"}
    assert r.json()["masked"] == ["full_name"]
    assert event["outcome"] == "allowed"
    assert event["fields"] == ["full_name"]

    r, _ = await read(app, client, world.a.who, cid, fields="address,full_name")
    assert r.status_code == 200, r.text
    assert r.json()["fields"] == {"full_name": "N. V. An", "address": "Hà Nội"}
    assert sorted(r.json()["masked"]) == ["address", "full_name"]
    assert "Nguyễn Văn An" not in r.text


@pytest.mark.parametrize("fields", ["email", "phone,email", "full_name,phone,email,address"])
async def test_ungranted_field_is_403(
    app: Any, client: httpx.AsyncClient, world: World, make_customer: MakeCustomer, fields: str
) -> None:
    cid = await make_customer()
    await assign(client, world.staff, world.a.id, cid)
    values = await stored(client, world.shop, cid)
    r, event = await read(app, client, world.a.who, cid, fields=fields)
    assert_problem(r, 403, "field_not_permitted")
    assert_denied(event, "field_not_permitted")
    for value in values.values():
        assert value not in r.text


async def test_unknown_field_name_is_422(
    client: httpx.AsyncClient, world: World, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    await assign(client, world.staff, world.a.id, cid)
    r = await client.get(
        f"/v1/partner/customers/{cid}",
        params={"purpose": "order_fulfillment", "fields": "cccd"},
        headers=world.a.who.headers,
    )
    assert_problem(r, 422)


# -- purpose ------------------------------------------------------------------------------------


@pytest.mark.parametrize("purpose", [None, "", "giao_hang", "ORDER_FULFILLMENT"])
async def test_missing_or_unknown_purpose_is_403(
    app: Any,
    client: httpx.AsyncClient,
    world: World,
    make_customer: MakeCustomer,
    purpose: str | None,
) -> None:
    cid = await make_customer()
    await assign(client, world.staff, world.b.id, cid)
    r, event = await read(app, client, world.b.who, cid, purpose=purpose)
    assert_problem(r, 403, "purpose_not_permitted")
    assert_denied(event, "purpose_not_permitted", purpose=None)


@pytest.mark.parametrize(
    "purpose", ["order_confirmation", "customer_self_service", "marketing", "judicial_disclosure"]
)
async def test_another_rows_purpose_is_refused(
    app: Any,
    client: httpx.AsyncClient,
    world: World,
    make_customer: MakeCustomer,
    purpose: str,
) -> None:
    """A known purpose whose row does not list the partner role: docs/policy.md's
    "role not in the row → role_not_permitted"."""
    cid = await make_customer()
    await assign(client, world.staff, world.b.id, cid)
    r, event = await read(app, client, world.b.who, cid, purpose=purpose)
    assert_problem(r, 403, "role_not_permitted")
    assert_denied(event, "role_not_permitted", purpose=purpose)
    assert cid not in r.text


# -- no assignment: indistinguishable from no customer ------------------------------------------


async def test_another_partners_customer_looks_missing(
    app: Any, client: httpx.AsyncClient, world: World, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    await assign(client, world.staff, world.b.id, cid)
    r, event = await read(app, client, world.a.who, cid)
    await assert_like_missing(app, client, world.a.who, r, event)
    # B itself reads it.
    r, _ = await read(app, client, world.b.who, cid)
    assert r.status_code == 200


async def test_unassigned_customer_looks_missing(
    app: Any, client: httpx.AsyncClient, world: World, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    r, event = await read(app, client, world.a.who, cid)
    await assert_like_missing(app, client, world.a.who, r, event)
    # Asking for an ungranted field changes nothing: the assignment is checked first.
    r, event = await read(app, client, world.a.who, cid, fields="email")
    await assert_like_missing(app, client, world.a.who, r, event)


async def test_revoked_assignment_looks_missing(
    app: Any, client: httpx.AsyncClient, world: World, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    aid = (await assign(client, world.staff, world.a.id, cid))["id"]
    r, _ = await read(app, client, world.a.who, cid)
    assert r.status_code == 200
    r = await client.post(
        f"/v1/partners/{world.a.id}/assignments/{aid}/revoke", headers=world.staff.headers
    )
    assert r.status_code == 200, r.text
    r, event = await read(app, client, world.a.who, cid)
    await assert_like_missing(app, client, world.a.who, r, event)
    # A new assignment for the next order opens it again, citing the new one.
    aid2 = (await assign(client, world.shop, world.a.id, cid))["id"]
    r, event = await read(app, client, world.a.who, cid)
    assert r.status_code == 200
    assert event["basis"] == f"assignment:{aid2}"


async def test_expired_assignment_looks_missing(
    app: Any, client: httpx.AsyncClient, world: World, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    await insert_expired_assignment(app, world.a.id, cid)
    r, event = await read(app, client, world.a.who, cid)
    await assert_like_missing(app, client, world.a.who, r, event)


async def test_erased_customer_with_a_valid_assignment_is_410(
    app: Any, client: httpx.AsyncClient, world: World, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    await assign(client, world.staff, world.b.id, cid)
    await mark_erased(app, cid)
    r, event = await read(app, client, world.b.who, cid)
    assert_problem(r, 410)
    assert event["outcome"] == "denied"
    assert event["reason"] == "erased"


# -- grants -------------------------------------------------------------------------------------


def _expired() -> dict[str, Any]:
    return {
        "valid_from": iso(now() - timedelta(days=2)),
        "valid_until": iso(now() - timedelta(days=1)),
    }


def _not_yet() -> dict[str, Any]:
    return {
        "valid_from": iso(now() + timedelta(days=1)),
        "valid_until": iso(now() + timedelta(days=30)),
    }


@pytest.mark.parametrize("window", [_expired, _not_yet], ids=["lapsed", "not_yet_valid"])
async def test_grant_outside_its_window_is_grant_expired(
    app: Any,
    client: httpx.AsyncClient,
    world: World,
    new_partner: PartnerFactory,
    make_customer: MakeCustomer,
    window: Callable[[], dict[str, Any]],
) -> None:
    c = await new_partner(window())
    cid = await make_customer()
    await assign(client, world.staff, c.id, cid)
    r, event = await read(app, client, c.who, cid)
    assert_problem(r, 403, "grant_expired")
    assert_denied(event, "grant_expired")
    # Decided before the customer is looked at: the same for an id that is nobody.
    r, event = await read(app, client, c.who, str(uuid.uuid4()))
    assert_problem(r, 403, "grant_expired")
    assert_denied(event, "grant_expired")


async def test_no_grant_is_grant_missing(
    app: Any,
    client: httpx.AsyncClient,
    world: World,
    new_partner: PartnerFactory,
    make_customer: MakeCustomer,
) -> None:
    c = await new_partner()
    cid = await make_customer()
    await assign(client, world.staff, c.id, cid)
    for target in (cid, str(uuid.uuid4())):
        r, event = await read(app, client, c.who, target)
        assert_problem(r, 403, "grant_missing")
        assert_denied(event, "grant_missing")


async def test_revoked_grant_counts_as_absent(
    app: Any, admin: Issued, client: httpx.AsyncClient, world: World, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    await assign(client, world.staff, world.a.id, cid)
    r, _ = await read(app, client, world.a.who, cid)
    assert r.status_code == 200
    r = await client.post(
        f"/v1/partners/{world.a.id}/grants/{world.a.grant_ids[0]}/revoke", headers=admin.headers
    )
    assert r.status_code == 200, r.text
    for target in (cid, str(uuid.uuid4())):
        r, event = await read(app, client, world.a.who, target)
        assert_problem(r, 403, "grant_missing")
        assert_denied(event, "grant_missing")
    # A lapsed grant beside the revoked one makes it "expired", not "missing".
    await create_grant(client, admin, world.a.id, **_expired())
    r, event = await read(app, client, world.a.who, cid)
    assert_problem(r, 403, "grant_expired")
    assert_denied(event, "grant_expired")
    # B is not affected by A's grant.
    cid_b = await make_customer()
    await assign(client, world.staff, world.b.id, cid_b)
    r, _ = await read(app, client, world.b.who, cid_b)
    assert r.status_code == 200


async def test_valid_grants_combine_and_plain_beats_masked(
    app: Any,
    admin: Issued,
    client: httpx.AsyncClient,
    world: World,
    new_partner: PartnerFactory,
    make_customer: MakeCustomer,
) -> None:
    c = await new_partner(
        {"fields": {"full_name": "masked", "phone": "masked"}},
        {"fields": {"full_name": "plain", "email": "masked"}},
        {"fields": {"phone": "plain", "address": "plain"}, **_expired()},  # lapsed: no effect
        {"fields": {"address": "plain"}, **_not_yet()},  # not yet: no effect
        {"fields": {"address": "plain", "phone": "plain"}},  # revoked below: no effect
    )
    r = await client.post(
        f"/v1/partners/{c.id}/grants/{c.grant_ids[4]}/revoke", headers=admin.headers
    )
    assert r.status_code == 200
    cid = await make_customer(full_name="Ưng Hoàng Phúc")
    aid = (await assign(client, world.staff, c.id, cid))["id"]
    values = await stored(client, world.shop, cid)
    r, event = await read(app, client, c.who, cid)
    assert r.status_code == 200, r.text
    assert r.json()["fields"] == {
        "full_name": "Ưng Hoàng Phúc",
        "phone": mask_phone(values["phone"]),
        "email": mask_email(values["email"]),
    }
    assert sorted(r.json()["masked"]) == ["email", "phone"]
    assert event["basis"] == f"assignment:{aid}"
    assert sorted(event["fields"]) == ["email", "full_name", "phone"]
    r, event = await read(app, client, c.who, cid, fields="address")
    assert_problem(r, 403, "field_not_permitted")
    assert_denied(event, "field_not_permitted")


# -- consent ------------------------------------------------------------------------------------


async def test_withdrawn_processing_consent_is_403(
    app: Any, client: httpx.AsyncClient, world: World, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    await assign(client, world.staff, world.b.id, cid)
    r, _ = await read(app, client, world.b.who, cid)
    assert r.status_code == 200
    async with app.state.runtime.sessions() as session:
        session.add(
            Consent(
                id=new_id(),
                customer_id=uuid.UUID(cid),
                kind="processing",
                granted=False,
                source="test",
                policy_version="2024-01",
                recorded_at=now() + timedelta(seconds=1),
            )
        )
        await session.commit()
    values = await stored(client, world.shop, cid)
    r, event = await read(app, client, world.b.who, cid)
    assert_problem(r, 403, "consent_withdrawn")
    assert_denied(event, "consent_withdrawn")
    for value in values.values():
        assert value not in r.text


# -- the partner's own assignments ----------------------------------------------------------------


async def test_own_assignments_lists_only_valid_own(
    app: Any, client: httpx.AsyncClient, world: World, make_customer: MakeCustomer
) -> None:
    c1, c2, c3, c4, c5 = [await make_customer() for _ in range(5)]
    a1 = await assign(client, world.staff, world.a.id, c1, reference="DH-0001")
    a2 = await assign(client, world.shop, world.a.id, c2, reference="DH-0002")
    a3 = await assign(client, world.staff, world.a.id, c3)
    r = await client.post(
        f"/v1/partners/{world.a.id}/assignments/{a3['id']}/revoke", headers=world.staff.headers
    )
    assert r.status_code == 200
    await insert_expired_assignment(app, world.a.id, c4)
    b5 = await assign(client, world.staff, world.b.id, c5)

    r = await client.get("/v1/partner/assignments", headers=world.a.who.headers)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["next_cursor"] is None
    assert sorted(page["items"], key=lambda x: x["id"]) == sorted([a1, a2], key=lambda x: x["id"])

    r = await client.get("/v1/partner/assignments", headers=world.b.who.headers)
    assert r.json()["items"] == [b5]

    # Paged.
    r = await client.get(
        "/v1/partner/assignments", params={"limit": 1}, headers=world.a.who.headers
    )
    first = r.json()
    assert len(first["items"]) == 1
    assert first["next_cursor"]
    r = await client.get(
        "/v1/partner/assignments",
        params={"limit": 1, "cursor": first["next_cursor"]},
        headers=world.a.who.headers,
    )
    second = r.json()
    assert second["next_cursor"] is None
    assert {first["items"][0]["id"], second["items"][0]["id"]} == {a1["id"], a2["id"]}

    events = await access_events(app, action="partner.assignments")
    assert [str(e["principal_id"]) for e in events] == [world.a.who.principal_id] + [
        world.b.who.principal_id
    ] + [world.a.who.principal_id] * 2
    assert all(e["role"] == "partner" and e["customer_id"] is None for e in events)


async def test_own_assignments_empty_without_any(
    client: httpx.AsyncClient, new_partner: PartnerFactory
) -> None:
    c = await new_partner()
    r = await client.get("/v1/partner/assignments", headers=c.who.headers)
    assert r.status_code == 200
    assert r.json() == {"items": [], "next_cursor": None}


# -- another partner's, nonexistent and erased customers: one answer ---------------------------


async def _erase_through_the_api(
    client: httpx.AsyncClient, issue: TokenFactory, shop: Issued, customer_id: str
) -> None:
    r = await client.post(
        "/v1/deletion-requests",
        json={"customer_id": customer_id, "channel": "storefront"},
        headers=shop.headers,
    )
    assert r.status_code == 201, r.text
    dpo = await issue("dpo", "nhân-viên-bảo-vệ-dữ-liệu")
    r = await client.post(f"/v1/deletion-requests/{r.json()['id']}/approve", headers=dpo.headers)
    assert r.status_code == 200, r.text


def _visible(r: httpx.Response) -> tuple[int, bytes, dict[str, str]]:
    """Everything a caller sees, apart from the request id it may set itself."""
    return r.status_code, r.content, {k: v for k, v in r.headers.items() if k != "x-request-id"}


@pytest.mark.parametrize(
    "query",
    [
        {"purpose": "order_fulfillment"},
        {"purpose": "order_fulfillment", "fields": "phone"},
        {"purpose": "order_fulfillment", "fields": "email"},  # not granted to A
        {"purpose": "order_fulfillment", "fields": "nope"},
        {"purpose": "marketing"},  # a known purpose outside the partner's row
        {"purpose": "không-có"},
        {},
    ],
    ids=[
        "plain",
        "granted-field",
        "ungranted-field",
        "unknown-field",
        "other-row",
        "unknown",
        "none",
    ],
)
async def test_others_missing_and_erased_customers_answer_alike(
    client: httpx.AsyncClient,
    world: World,
    issue: TokenFactory,
    make_customer: MakeCustomer,
    query: dict[str, str],
) -> None:
    """Whatever A asks, B's customer, an erased one (B's, and A's own before erasure) and an
    id nobody holds give byte-identical answers: A cannot tell which exist."""
    others = await make_customer()
    await assign(client, world.staff, world.b.id, others)
    erased_others = await make_customer()
    await assign(client, world.staff, world.b.id, erased_others)
    erased_own = await make_customer()
    await assign(client, world.staff, world.a.id, erased_own)
    for cid in (erased_others, erased_own):
        await _erase_through_the_api(client, issue, world.shop, cid)

    async def ask(cid: str) -> httpx.Response:
        return await client.get(
            f"/v1/partner/customers/{cid}", params=query, headers=world.a.who.headers
        )

    ghost = _visible(await ask(str(uuid.uuid4())))
    assert ghost[0] in {403, 404, 422}
    for cid in (others, erased_others, erased_own):
        assert _visible(await ask(cid)) == ghost, cid
    # B, whose assignment the erasure revoked, cannot tell its erased customer from nobody.
    r = await client.get(
        f"/v1/partner/customers/{erased_others}",
        params={"purpose": "order_fulfillment"},
        headers=world.b.who.headers,
    )
    nobody = await client.get(
        f"/v1/partner/customers/{uuid.uuid4()}",
        params={"purpose": "order_fulfillment"},
        headers=world.b.who.headers,
    )
    assert r.status_code == 404
    assert _visible(r) == _visible(nobody)
    # The assignments list never names the erased customer either.
    r = await client.get("/v1/partner/assignments", headers=world.a.who.headers)
    assert r.status_code == 200, r.text
    assert erased_own not in r.text
    assert others not in r.text
