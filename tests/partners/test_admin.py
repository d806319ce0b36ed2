"""Partner administration (docs/api.md "Partners"): partners, grants, assignments; who may call."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Issued, TokenFactory, access_events
from tests.helpers import assert_problem
from tests.partners.conftest import (
    assign,
    assignment_body,
    create_grant,
    create_partner,
    grant_body,
    iso,
    mark_erased,
    now,
)

ROLES = ["admin", "storefront", "employee", "partner", "legal", "dpo", "auditor"]
NON_ADMIN_ROLES = [r for r in ROLES if r != "admin"]

RoleFactory = Callable[[str], Awaitable[Issued]]


@pytest.fixture
def as_role(client: httpx.AsyncClient, issue: TokenFactory, admin: Issued) -> RoleFactory:
    """A principal of any role; a partner principal gets a partner of its own first."""

    async def _as(role: str) -> Issued:
        if role == "admin":
            return admin
        if role != "partner":
            return await issue(role, f"test-{role}")
        partner = await create_partner(client, admin)
        return await issue("partner", "test-partner", partner_id=partner["id"])

    return _as


# -- partners ---------------------------------------------------------------------------------


async def test_create_partner(app: Any, client: httpx.AsyncClient, admin: Issued) -> None:
    r = await client.post(
        "/v1/partners",
        json={"name": "  Giao Hàng Mẫu Miền Bắc ", "contract_ref": " HD-2026-001 "},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert set(out) == {"id", "name", "contract_ref", "created_at"}
    uuid.UUID(out["id"])
    assert out["name"] == "Giao Hàng Mẫu Miền Bắc"
    assert out["contract_ref"] == "HD-2026-001"
    assert abs(datetime.fromisoformat(out["created_at"]) - datetime.now(UTC)) < timedelta(minutes=1)
    r = await client.get("/v1/partners", headers=admin.headers)
    assert r.status_code == 200
    assert r.json()["items"] == [out]
    events = await access_events(app, action="partner.create")
    assert len(events) == 1
    assert events[0]["outcome"] == "allowed"
    assert events[0]["role"] == "admin"
    assert str(events[0]["principal_id"]) == admin.principal_id


async def test_duplicate_partner_name_is_409(client: httpx.AsyncClient, admin: Issued) -> None:
    await create_partner(client, admin, name="Lắp Đặt Mẫu")
    r = await client.post(
        "/v1/partners",
        json={"name": " Lắp Đặt Mẫu ", "contract_ref": "HD-KHAC-002"},
        headers=admin.headers,
    )
    assert_problem(r, 409)
    r = await client.get("/v1/partners", headers=admin.headers)
    assert [p["name"] for p in r.json()["items"]] == ["Lắp Đặt Mẫu"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Giao Hàng Mẫu"},
        {"contract_ref": "HD-1"},
        {"name": "", "contract_ref": "HD-1"},
        {"name": "   ", "contract_ref": "HD-1"},
        {"name": "Giao Hàng Mẫu", "contract_ref": ""},
        {"name": "x" * 201, "contract_ref": "HD-1"},
        {"name": "Giao Hàng Mẫu", "contract_ref": "HD-1", "extra": "no"},
        {"name": 12, "contract_ref": "HD-1"},
    ],
)
async def test_create_partner_validation(
    client: httpx.AsyncClient, admin: Issued, body: dict[str, Any]
) -> None:
    assert_problem(await client.post("/v1/partners", json=body, headers=admin.headers), 422)
    r = await client.get("/v1/partners", headers=admin.headers)
    assert r.json()["items"] == []


async def test_list_partners_pages(client: httpx.AsyncClient, admin: Issued) -> None:
    created = [
        (await create_partner(client, admin, name=f"Đối Tác Mẫu {i}"))["id"] for i in range(5)
    ]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = await client.get("/v1/partners", params=params, headers=admin.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [p["id"] for p in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(created)
    assert len(set(seen)) == 5


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"cursor": "%%%not-a-cursor"}])
async def test_list_partners_bad_paging_is_422(
    client: httpx.AsyncClient, admin: Issued, params: dict[str, Any]
) -> None:
    await create_partner(client, admin)
    assert_problem(await client.get("/v1/partners", params=params, headers=admin.headers), 422)


# -- grants -----------------------------------------------------------------------------------


async def test_create_list_revoke_grant(app: Any, client: httpx.AsyncClient, admin: Issued) -> None:
    partner = await create_partner(client, admin)
    pid = partner["id"]
    body = grant_body(
        purposes=["order_fulfillment", "order_fulfillment"],
        fields={"full_name": "masked", "phone": "plain", "address": "masked"},
    )
    r = await client.post(f"/v1/partners/{pid}/grants", json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    grant = r.json()
    assert set(grant) == {
        "id",
        "partner_id",
        "contract_ref",
        "purposes",
        "fields",
        "valid_from",
        "valid_until",
        "created_at",
        "revoked_at",
    }
    assert grant["partner_id"] == pid
    assert grant["purposes"] == ["order_fulfillment"]
    assert grant["fields"] == {"full_name": "masked", "phone": "plain", "address": "masked"}
    assert datetime.fromisoformat(grant["valid_from"]) == datetime.fromisoformat(body["valid_from"])
    assert datetime.fromisoformat(grant["valid_until"]) == datetime.fromisoformat(
        body["valid_until"]
    )
    assert grant["revoked_at"] is None

    r = await client.get(f"/v1/partners/{pid}/grants", headers=admin.headers)
    assert r.status_code == 200
    assert r.json() == {"items": [grant], "next_cursor": None}

    r = await client.post(f"/v1/partners/{pid}/grants/{grant['id']}/revoke", headers=admin.headers)
    assert r.status_code == 200, r.text
    revoked = r.json()
    assert revoked["id"] == grant["id"]
    assert revoked["revoked_at"] is not None
    # Revoking again changes nothing.
    r = await client.post(f"/v1/partners/{pid}/grants/{grant['id']}/revoke", headers=admin.headers)
    assert r.status_code == 200
    assert r.json()["revoked_at"] == revoked["revoked_at"]
    r = await client.get(f"/v1/partners/{pid}/grants", headers=admin.headers)
    assert r.json()["items"] == [revoked]

    assert len(await access_events(app, action="grant.create", basis=f"grant:{grant['id']}")) == 1
    assert len(await access_events(app, action="grant.revoke", basis=f"grant:{grant['id']}")) == 2


async def test_grant_with_offset_timestamps_is_stored_in_utc(
    client: httpx.AsyncClient, admin: Issued
) -> None:
    pid = (await create_partner(client, admin))["id"]
    grant = await create_grant(
        client,
        admin,
        pid,
        valid_from="2026-01-01T07:00:00+07:00",
        valid_until="2027-01-01T07:00:00+07:00",
    )
    assert datetime.fromisoformat(grant["valid_from"]) == datetime(2026, 1, 1, tzinfo=UTC)
    assert datetime.fromisoformat(grant["valid_until"]) == datetime(2027, 1, 1, tzinfo=UTC)


def _window(start: datetime, end: datetime) -> dict[str, str]:
    return {"valid_from": iso(start), "valid_until": iso(end)}


T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"purposes": ["marketing"]}, "purposes"),
        ({"purposes": ["order_confirmation"]}, "purposes"),
        ({"purposes": ["order_fulfillment", "marketing"]}, "purposes"),
        ({"purposes": ["giao_hang"]}, "purposes"),
        ({"purposes": []}, "purposes"),
        ({"purposes": "order_fulfillment"}, "purposes"),
        ({"fields": {}}, "fields"),
        ({"fields": {"ssn": "plain"}}, "fields"),
        ({"fields": {"phone": "hidden"}}, "fields"),
        ({"fields": {"phone": "PLAIN"}}, "fields"),
        ({"fields": ["phone"]}, "fields"),
        ({"contract_ref": ""}, "contract_ref"),
        (_window(T0, T0), None),  # valid_until must be after valid_from
        (_window(T0, T0 - timedelta(seconds=1)), None),
        (_window(T0, T0 - timedelta(days=30)), None),
        ({"valid_from": "2026-06-01T08:00:00"}, "valid_from"),  # no time zone
        ({"valid_until": "2027-06-01"}, "valid_until"),
        ({"valid_until": "soon"}, "valid_until"),
        ({"extra": True}, "extra"),
    ],
)
async def test_grant_validation_is_422(
    client: httpx.AsyncClient, admin: Issued, overrides: dict[str, Any], names: str | None
) -> None:
    pid = (await create_partner(client, admin))["id"]
    r = await client.post(
        f"/v1/partners/{pid}/grants", json=grant_body(**overrides), headers=admin.headers
    )
    body = assert_problem(r, 422)
    if names is not None:
        assert any(names in [str(p) for p in e["loc"]] for e in body["errors"]), body
    r = await client.get(f"/v1/partners/{pid}/grants", headers=admin.headers)
    assert r.json()["items"] == []


@pytest.mark.parametrize(
    "missing", ["contract_ref", "purposes", "fields", "valid_from", "valid_until"]
)
async def test_grant_missing_key_is_422(
    client: httpx.AsyncClient, admin: Issued, missing: str
) -> None:
    pid = (await create_partner(client, admin))["id"]
    body = grant_body()
    del body[missing]
    r = await client.post(f"/v1/partners/{pid}/grants", json=body, headers=admin.headers)
    assert_problem(r, 422)


async def test_grants_of_an_unknown_partner_are_404(
    client: httpx.AsyncClient, admin: Issued
) -> None:
    ghost = uuid.uuid4()
    r = await client.post(f"/v1/partners/{ghost}/grants", json=grant_body(), headers=admin.headers)
    assert_problem(r, 404)
    assert_problem(await client.get(f"/v1/partners/{ghost}/grants", headers=admin.headers), 404)
    r = await client.post(
        f"/v1/partners/{ghost}/grants/{uuid.uuid4()}/revoke", headers=admin.headers
    )
    assert_problem(r, 404)


async def test_revoking_another_partners_grant_is_404(
    client: httpx.AsyncClient, admin: Issued
) -> None:
    a = (await create_partner(client, admin))["id"]
    b = (await create_partner(client, admin))["id"]
    grant_b = await create_grant(client, admin, b)
    r = await client.post(f"/v1/partners/{a}/grants/{grant_b['id']}/revoke", headers=admin.headers)
    assert_problem(r, 404)
    r = await client.post(f"/v1/partners/{a}/grants/{uuid.uuid4()}/revoke", headers=admin.headers)
    assert_problem(r, 404)
    r = await client.get(f"/v1/partners/{b}/grants", headers=admin.headers)
    assert r.json()["items"][0]["revoked_at"] is None
    r = await client.get(f"/v1/partners/{a}/grants", headers=admin.headers)
    assert r.json()["items"] == []


async def test_grants_are_listed_per_partner_and_paged(
    client: httpx.AsyncClient, admin: Issued
) -> None:
    a = (await create_partner(client, admin))["id"]
    b = (await create_partner(client, admin))["id"]
    mine = {(await create_grant(client, admin, a))["id"] for _ in range(3)}
    await create_grant(client, admin, b)
    r = await client.get(f"/v1/partners/{a}/grants", params={"limit": 2}, headers=admin.headers)
    first = r.json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    r = await client.get(
        f"/v1/partners/{a}/grants",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=admin.headers,
    )
    second = r.json()
    assert second["next_cursor"] is None
    assert {g["id"] for g in first["items"] + second["items"]} == mine


async def test_bad_path_ids_are_422(client: httpx.AsyncClient, admin: Issued) -> None:
    assert_problem(await client.get("/v1/partners/not-a-uuid/grants", headers=admin.headers), 422)
    pid = (await create_partner(client, admin))["id"]
    r = await client.post(f"/v1/partners/{pid}/grants/not-a-uuid/revoke", headers=admin.headers)
    assert_problem(r, 422)


# -- partner principals -----------------------------------------------------------------------


async def test_partner_principal_needs_an_existing_partner(
    client: httpx.AsyncClient, admin: Issued
) -> None:
    body = {"name": "đối-tác-ma", "role": "partner", "partner_id": str(uuid.uuid4())}
    assert_problem(await client.post("/v1/principals", json=body, headers=admin.headers), 422)
    body = {"name": "đối-tác-thiếu", "role": "partner"}
    assert_problem(await client.post("/v1/principals", json=body, headers=admin.headers), 422)
    pid = (await create_partner(client, admin))["id"]
    body = {"name": "nhân-viên", "role": "employee", "partner_id": pid}
    assert_problem(await client.post("/v1/principals", json=body, headers=admin.headers), 422)
    r = await client.get("/v1/principals", params={"limit": 500}, headers=admin.headers)
    assert [p["role"] for p in r.json()["items"]] == ["admin"]
    body = {"name": "đối-tác-thật", "role": "partner", "partner_id": pid}
    r = await client.post("/v1/principals", json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    assert r.json()["partner_id"] == pid


# -- who may call the admin endpoints ----------------------------------------------------------


def _admin_calls(pid: str, gid: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("POST", "/v1/partners", {"name": "Đối Tác Lạ", "contract_ref": "HD-9"}),
        ("GET", "/v1/partners", None),
        ("POST", f"/v1/partners/{pid}/grants", grant_body()),
        ("GET", f"/v1/partners/{pid}/grants", None),
        ("POST", f"/v1/partners/{pid}/grants/{gid}/revoke", None),
    ]


@pytest.mark.parametrize("role", NON_ADMIN_ROLES)
async def test_admin_endpoints_refuse_other_roles(
    app: Any, client: httpx.AsyncClient, admin: Issued, as_role: RoleFactory, role: str
) -> None:
    pid = (await create_partner(client, admin, name="Đối Tác Chính"))["id"]
    gid = (await create_grant(client, admin, pid))["id"]
    caller = await as_role(role)
    before = len(await access_events(app, reason="role_not_permitted"))
    calls = _admin_calls(pid, gid)
    for method, path, body in calls:
        r = await client.request(method, path, json=body, headers=caller.headers)
        assert_problem(r, 403, "role_not_permitted")
    denied = await access_events(app, reason="role_not_permitted")
    assert len(denied) - before == len(calls)
    assert all(e["role"] == role and e["outcome"] == "denied" for e in denied[before:])
    # Nothing changed.
    r = await client.get("/v1/partners", headers=admin.headers)
    assert "Đối Tác Lạ" not in [p["name"] for p in r.json()["items"]]
    r = await client.get(f"/v1/partners/{pid}/grants", headers=admin.headers)
    assert [g["revoked_at"] for g in r.json()["items"]] == [None]


async def test_partner_endpoints_refuse_anonymous(
    client: httpx.AsyncClient, admin: Issued, make_customer: Callable[..., Awaitable[str]]
) -> None:
    pid = (await create_partner(client, admin))["id"]
    gid = (await create_grant(client, admin, pid))["id"]
    cid = await make_customer()
    calls = [
        *_admin_calls(pid, gid),
        ("POST", f"/v1/partners/{pid}/assignments", assignment_body(cid)),
        ("POST", f"/v1/partners/{pid}/assignments/{uuid.uuid4()}/revoke", None),
        ("GET", "/v1/partner/assignments", None),
        ("GET", f"/v1/partner/customers/{cid}?purpose=order_fulfillment", None),
    ]
    for headers in (
        {},
        {"Authorization": "Bearer pdv_not-a-real-token"},
        {"Authorization": "Basic x"},
    ):
        for method, path, body in calls:
            r = await client.request(method, path, json=body, headers=headers)
            assert_problem(r, 401)
            assert r.headers.get("www-authenticate", "").startswith("Bearer")


# -- assignments ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["employee", "storefront"])
async def test_create_and_revoke_assignment(
    app: Any,
    client: httpx.AsyncClient,
    admin: Issued,
    as_role: RoleFactory,
    make_customer: Callable[..., Awaitable[str]],
    role: str,
) -> None:
    pid = (await create_partner(client, admin))["id"]
    cid = await make_customer()
    caller = await as_role(role)
    body = assignment_body(cid, reference="  DH-000123 ")
    r = await client.post(f"/v1/partners/{pid}/assignments", json=body, headers=caller.headers)
    assert r.status_code == 201, r.text
    out = r.json()
    assert set(out) == {
        "id",
        "partner_id",
        "customer_id",
        "purpose",
        "reference",
        "expires_at",
        "created_at",
        "revoked_at",
    }
    assert (out["partner_id"], out["customer_id"]) == (pid, cid)
    assert out["purpose"] == "order_fulfillment"
    assert out["reference"] == "DH-000123"
    assert datetime.fromisoformat(out["expires_at"]) == datetime.fromisoformat(body["expires_at"])
    assert out["revoked_at"] is None
    created = await access_events(app, action="assignment.create")
    assert len(created) == 1
    assert created[0]["basis"] == f"assignment:{out['id']}"
    assert str(created[0]["customer_id"]) == cid
    assert created[0]["role"] == role

    r = await client.post(
        f"/v1/partners/{pid}/assignments/{out['id']}/revoke", headers=caller.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"] is not None
    assert r.json()["id"] == out["id"]
    revoked = await access_events(app, action="assignment.revoke")
    assert [e["basis"] for e in revoked] == [f"assignment:{out['id']}"]


async def test_admin_may_revoke_an_assignment(
    client: httpx.AsyncClient,
    admin: Issued,
    issue: TokenFactory,
    make_customer: Callable[..., Awaitable[str]],
) -> None:
    pid = (await create_partner(client, admin))["id"]
    staff = await issue("employee", "nhân-viên")
    aid = (await assign(client, staff, pid, await make_customer()))["id"]
    r = await client.post(f"/v1/partners/{pid}/assignments/{aid}/revoke", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"] is not None


@pytest.mark.parametrize("role", ["admin", "partner", "legal", "dpo", "auditor"])
async def test_assignment_creation_refuses_other_roles(
    app: Any,
    client: httpx.AsyncClient,
    admin: Issued,
    as_role: RoleFactory,
    make_customer: Callable[..., Awaitable[str]],
    role: str,
) -> None:
    pid = (await create_partner(client, admin))["id"]
    cid = await make_customer()
    caller = await as_role(role)
    r = await client.post(
        f"/v1/partners/{pid}/assignments", json=assignment_body(cid), headers=caller.headers
    )
    assert_problem(r, 403, "role_not_permitted")
    assert await access_events(app, action="assignment.create", outcome="allowed") == []
    denied = await access_events(app, action="assignment.create", outcome="denied")
    assert [e["role"] for e in denied] == [role]


@pytest.mark.parametrize("role", ["partner", "legal", "dpo", "auditor"])
async def test_assignment_revocation_refuses_other_roles(
    client: httpx.AsyncClient,
    admin: Issued,
    issue: TokenFactory,
    as_role: RoleFactory,
    make_customer: Callable[..., Awaitable[str]],
    role: str,
) -> None:
    pid = (await create_partner(client, admin))["id"]
    staff = await issue("employee", "nhân-viên")
    aid = (await assign(client, staff, pid, await make_customer()))["id"]
    caller = await as_role(role)
    r = await client.post(f"/v1/partners/{pid}/assignments/{aid}/revoke", headers=caller.headers)
    assert_problem(r, 403, "role_not_permitted")
    # Still valid: revoking it now works and stamps it for the first time.
    r = await client.post(f"/v1/partners/{pid}/assignments/{aid}/revoke", headers=staff.headers)
    assert r.status_code == 200
    assert datetime.fromisoformat(r.json()["revoked_at"]) > now() - timedelta(minutes=1)


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"purpose": "marketing"}, "purpose"),
        ({"purpose": "order_confirmation"}, "purpose"),
        ({"purpose": None}, "purpose"),
        ({"reference": ""}, "reference"),
        ({"reference": "   "}, "reference"),
        ({"reference": "x" * 201}, "reference"),
        ({"reference": "x" * 101}, "reference"),
        # A reference is an order number, never free text: a name and a phone typed into it
        # would be kept in clear (outside review of issue 14).
        ({"reference": "Nguyen Van A 0912345678"}, "reference"),
        ({"expires_at": "2030-01-01T00:00:00"}, "expires_at"),  # no time zone
        ({"expires_at": iso(datetime(2020, 1, 1, tzinfo=UTC))}, "expires_at"),
        ({"customer_id": "not-a-uuid"}, "customer_id"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_assignment_validation_is_422(
    app: Any,
    client: httpx.AsyncClient,
    admin: Issued,
    issue: TokenFactory,
    make_customer: Callable[..., Awaitable[str]],
    overrides: dict[str, Any],
    name: str,
) -> None:
    pid = (await create_partner(client, admin))["id"]
    cid = await make_customer()
    staff = await issue("employee", "nhân-viên")
    r = await client.post(
        f"/v1/partners/{pid}/assignments",
        json=assignment_body(cid, **overrides),
        headers=staff.headers,
    )
    body = assert_problem(r, 422)
    assert any(name in [str(p) for p in e["loc"]] for e in body["errors"]), body
    assert await access_events(app, action="assignment.create") == []


async def test_assignment_expiring_now_is_422(
    client: httpx.AsyncClient,
    admin: Issued,
    issue: TokenFactory,
    make_customer: Callable[..., Awaitable[str]],
) -> None:
    pid = (await create_partner(client, admin))["id"]
    staff = await issue("employee", "nhân-viên")
    body = assignment_body(await make_customer(), expires_at=iso(now() - timedelta(seconds=1)))
    r = await client.post(f"/v1/partners/{pid}/assignments", json=body, headers=staff.headers)
    assert_problem(r, 422)


async def test_assignment_needs_an_existing_partner_and_customer(
    app: Any,
    client: httpx.AsyncClient,
    admin: Issued,
    issue: TokenFactory,
    make_customer: Callable[..., Awaitable[str]],
) -> None:
    pid = (await create_partner(client, admin))["id"]
    staff = await issue("employee", "nhân-viên")
    cid = await make_customer()
    r = await client.post(
        f"/v1/partners/{uuid.uuid4()}/assignments",
        json=assignment_body(cid),
        headers=staff.headers,
    )
    assert_problem(r, 404)
    ghost = str(uuid.uuid4())
    r = await client.post(
        f"/v1/partners/{pid}/assignments", json=assignment_body(ghost), headers=staff.headers
    )
    assert_problem(r, 404)
    denied = await access_events(app, action="assignment.create", outcome="denied")
    assert [(str(e["customer_id"]), e["reason"]) for e in denied] == [(ghost, "not_found")]


async def test_assignment_of_an_erased_customer_is_410(
    client: httpx.AsyncClient,
    admin: Issued,
    issue: TokenFactory,
    app: Any,
    make_customer: Callable[..., Awaitable[str]],
) -> None:
    pid = (await create_partner(client, admin))["id"]
    staff = await issue("employee", "nhân-viên")
    cid = await make_customer()
    await mark_erased(app, cid)
    r = await client.post(
        f"/v1/partners/{pid}/assignments", json=assignment_body(cid), headers=staff.headers
    )
    assert_problem(r, 410)


async def test_revoking_another_partners_assignment_is_404(
    client: httpx.AsyncClient,
    admin: Issued,
    issue: TokenFactory,
    make_customer: Callable[..., Awaitable[str]],
) -> None:
    a = (await create_partner(client, admin))["id"]
    b = (await create_partner(client, admin))["id"]
    staff = await issue("employee", "nhân-viên")
    aid_b = (await assign(client, staff, b, await make_customer()))["id"]
    r = await client.post(f"/v1/partners/{a}/assignments/{aid_b}/revoke", headers=staff.headers)
    assert_problem(r, 404)
    r = await client.post(
        f"/v1/partners/{a}/assignments/{uuid.uuid4()}/revoke", headers=staff.headers
    )
    assert_problem(r, 404)
    # B's assignment is untouched: the first real revoke stamps it.
    r = await client.post(f"/v1/partners/{b}/assignments/{aid_b}/revoke", headers=staff.headers)
    assert r.status_code == 200
    assert datetime.fromisoformat(r.json()["revoked_at"]) > now() - timedelta(minutes=1)


async def test_an_erasure_replaces_the_customers_assignment_references(
    app: Any,
    client: httpx.AsyncClient,
    admin: Issued,
    issue: TokenFactory,
    make_customer: Callable[..., Awaitable[str]],
) -> None:
    """References are kept in clear; an erasure leaves none of the person's behind."""
    from sqlalchemy import select

    from pdvault.erasure.shred import ERASED_REFERENCE, shred_customer
    from pdvault.partners.models import Assignment

    pid = (await create_partner(client, admin))["id"]
    staff = await issue("employee", "nhân-viên")
    cid, other = await make_customer(), await make_customer()
    for customer in (cid, cid, other):
        r = await client.post(
            f"/v1/partners/{pid}/assignments",
            json=assignment_body(customer, reference="DH-000777"),
            headers=staff.headers,
        )
        assert r.status_code == 201, r.text
    async with app.state.runtime.sessions() as session:
        await shred_customer(session, uuid.UUID(cid), now())
        await session.commit()
        rows = (
            await session.execute(
                select(Assignment.customer_id, Assignment.reference, Assignment.revoked_at)
            )
        ).all()
    mine = [(ref, revoked) for c, ref, revoked in rows if str(c) == cid]
    assert [ref for ref, _ in mine] == [ERASED_REFERENCE, ERASED_REFERENCE]
    assert all(revoked is not None for _, revoked in mine)
    assert [ref for c, ref, _ in rows if str(c) == other] == ["DH-000777"]
