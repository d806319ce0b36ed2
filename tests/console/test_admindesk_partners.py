"""The administrator's desk (issue 19.3), partners and keys, through the ASGI client: a partner
registered, its grants as a matrix (created and revoked as the API does), its assignments
listed and revoked, the keys' status with the rewrap's figures; the other roles refused as
the API refuses them; bad forms change nothing; a double submit acts once."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from pdvault.customers.models import Customer
from pdvault.db import new_id
from pdvault.partners.models import Assignment, Grant, Partner
from tests.conftest import TokenFactory, access_events
from tests.console.conftest import post_form, sign_in
from tests.console.test_admindesk import REFUSED_ROLES, admin_in, count, once_of
from tests.console.test_safety import assert_strict_headers

PARTNERS = "/console/partners"
NOW = datetime.now(UTC)


async def save_partner(app: Any, name: str = "Giao Hàng Mẫu") -> uuid.UUID:
    async with app.state.runtime.sessions() as session:
        partner = Partner(id=new_id(), name=name, contract_ref="HD-T-1", created_at=NOW)
        session.add(partner)
        await session.commit()
        return partner.id


async def save_grant(app: Any, partner_id: uuid.UUID, fields: dict[str, str]) -> uuid.UUID:
    async with app.state.runtime.sessions() as session:
        grant = Grant(
            id=new_id(),
            partner_id=partner_id,
            contract_ref="HD-T-1",
            purposes=["order_fulfillment"],
            fields=fields,
            valid_from=NOW - timedelta(days=1),
            valid_until=NOW + timedelta(days=30),
            created_at=NOW,
        )
        session.add(grant)
        await session.commit()
        return grant.id


async def save_assignment(app: Any, partner_id: uuid.UUID, customer_id: str) -> uuid.UUID:
    async with app.state.runtime.sessions() as session:
        assignment = Assignment(
            id=new_id(),
            partner_id=partner_id,
            customer_id=uuid.UUID(customer_id),
            purpose="order_fulfillment",
            reference="DH-000777",
            expires_at=NOW + timedelta(days=3),
            created_at=NOW,
        )
        session.add(assignment)
        await session.commit()
        return assignment.id


async def test_the_admin_registers_a_partner_once_with_the_apis_event(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory
) -> None:
    admin, csrf = await admin_in(client, issue)
    page = await client.get(PARTNERS)
    assert page.status_code == 200
    assert_strict_headers(page)
    form = {"csrf": csrf, "once": once_of(page.text), "name": "Lắp Đặt Mẫu", "contract_ref": "HD-9"}
    first = await post_form(client, PARTNERS, form)
    second = await post_form(client, PARTNERS, form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert first.headers["location"].endswith("?done=partner_created")
    assert await count(app, Partner, Partner.name == "Lắp Đặt Mẫu") == 1
    (event,) = await access_events(app, action="partner.create")
    assert str(event["principal_id"]) == admin.principal_id
    assert event["request_id"].startswith("console:")
    shown = await client.get(first.headers["location"])
    assert "The partner was created." in shown.text
    assert "Lắp Đặt Mẫu" in shown.text


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "", "contract_ref": "HD"}, "name"),
        ({"name": "P", "contract_ref": " "}, "contract_ref"),
    ],
)
async def test_a_bad_partner_form_is_422_and_registers_nothing(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory, fields: dict[str, str], field: str
) -> None:
    _, csrf = await admin_in(client, issue)
    page = await client.get(PARTNERS)
    r = await post_form(client, PARTNERS, {"csrf": csrf, "once": once_of(page.text), **fields})
    assert r.status_code == 422
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', r.text)
    assert await count(app, Partner) == 0
    assert await access_events(app, action="partner.create") == []


async def test_a_partner_name_taken_is_422_beside_the_name(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory
) -> None:
    await save_partner(app, "Đã Có")
    _, csrf = await admin_in(client, issue)
    page = await client.get(PARTNERS)
    r = await post_form(
        client,
        PARTNERS,
        {"csrf": csrf, "once": once_of(page.text), "name": "Đã Có", "contract_ref": "HD"},
    )
    assert r.status_code == 422
    assert "A partner with that name already exists." in r.text
    assert await count(app, Partner) == 1


async def test_the_grant_matrix_creates_a_grant_as_the_api_does_and_revokes_it(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory
) -> None:
    _, csrf = await admin_in(client, issue)
    partner_id = await save_partner(app)
    page = await client.get(f"{PARTNERS}/{partner_id}")
    assert page.status_code == 200
    for field in ("full_name", "phone", "email", "address"):
        for mode in ("plain", "masked"):
            assert f'id="field_{field}_{mode}"' in page.text
    form = {
        "csrf": csrf,
        "once": once_of(page.text),
        "field_full_name": "masked",
        "field_phone": "plain",
        "field_email": "",
        "field_address": "plain",
        "valid_from": "2026-12-01",
        "valid_until": "2027-05-31",
        "contract_ref": "HD-T-1",
    }
    first = await post_form(client, f"{PARTNERS}/{partner_id}/grants", form)
    second = await post_form(client, f"{PARTNERS}/{partner_id}/grants", form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == f"{PARTNERS}/{partner_id}?done=grant_created"
    async with app.state.runtime.sessions() as session:
        (grant,) = (await session.scalars(select(Grant))).all()
    assert grant.fields == {"full_name": "masked", "phone": "plain", "address": "plain"}
    assert grant.purposes == ["order_fulfillment"]
    # Whole days in the shop's zone (UTC+7), the last one included.
    assert grant.valid_from == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    assert grant.valid_until == datetime(2027, 5, 31, 17, 0, tzinfo=UTC)
    (event,) = await access_events(app, action="grant.create")
    assert event["basis"] == f"grant:{grant.id}"
    # The API lists the same grant.
    shown = await client.get(first.headers["location"])
    assert "The grant was created." in shown.text
    assert "2026-12-01 \u2013 2027-05-31" in shown.text
    api = await client.get(
        f"/v1/partners/{partner_id}/grants",
        headers={"Authorization": f"Bearer {(await issue('admin', 'api-admin')).token}"},
    )
    assert [g["fields"] for g in api.json()["items"]] == [grant.fields]

    revoke = {"csrf": csrf, "once": once_of(shown.text)}
    r = await post_form(client, f"{PARTNERS}/{partner_id}/grants/{grant.id}/revoke", revoke)
    assert r.status_code == 303
    assert r.headers["location"].endswith("?done=grant_revoked")
    await post_form(client, f"{PARTNERS}/{partner_id}/grants/{grant.id}/revoke", revoke)
    assert len(await access_events(app, action="grant.revoke")) == 1
    async with app.state.runtime.sessions() as session:
        revoked = await session.get(Grant, grant.id)
    assert revoked is not None
    assert revoked.revoked_at is not None


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"field_full_name": "", "field_phone": ""},
            "fields",
            "Choose plain or masked for at least one field.",
        ),
        ({"field_phone": "everything"}, "field_phone", "Not one of the listed values."),
        ({"valid_from": "soon"}, "valid_from", "Not a date."),
        (
            {"valid_until": "2026-11-30"},
            "valid_until",
            "The last day must not be before the first day.",
        ),
        (
            {"contract_ref": ""},
            "contract_ref",
            "Enter the contract reference, 1 to 200 characters.",
        ),
    ],
)
async def test_a_bad_grant_is_422_beside_its_field_and_grants_nothing(
    app: Any,
    client: httpx.AsyncClient,
    issue: TokenFactory,
    changes: dict[str, str],
    field: str,
    message: str,
) -> None:
    _, csrf = await admin_in(client, issue)
    partner_id = await save_partner(app)
    page = await client.get(f"{PARTNERS}/{partner_id}")
    form = {
        "csrf": csrf,
        "once": once_of(page.text),
        "field_full_name": "masked",
        "field_phone": "plain",
        "valid_from": "2026-12-01",
        "valid_until": "2026-12-31",
        "contract_ref": "HD",
        **changes,
    }
    r = await post_form(client, f"{PARTNERS}/{partner_id}/grants", form)
    assert r.status_code == 422
    assert message in r.text
    if field.startswith("field_") or field == "fields":
        assert message in r.text.split("New grant")[1]
    else:
        assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', r.text)
    assert await count(app, Grant) == 0
    assert await access_events(app, action="grant.create") == []


async def test_assignments_are_listed_and_revoked_by_the_admin(
    app: Any,
    client: httpx.AsyncClient,
    issue: TokenFactory,
    make_customer: Any,
) -> None:
    customer = await make_customer()
    partner_id = await save_partner(app)
    assignment_id = await save_assignment(app, partner_id, customer)
    _, csrf = await admin_in(client, issue)
    page = await client.get(f"{PARTNERS}/{partner_id}")
    assert customer in page.text
    assert "DH-000777" in page.text
    # No personal value of the customer on the partner's page.
    async with app.state.runtime.sessions() as session:
        assert await session.get(Customer, uuid.UUID(customer)) is not None
    assert "Nguyễn Văn Mẫu" not in page.text
    form = {"csrf": csrf, "once": once_of(page.text)}
    path = f"{PARTNERS}/{partner_id}/assignments/{assignment_id}/revoke"
    r = await post_form(client, path, form)
    assert r.status_code == 303
    assert r.headers["location"].endswith("?done=assignment_revoked")
    await post_form(client, path, form)
    (event,) = await access_events(app, action="assignment.revoke")
    assert str(event["customer_id"]) == customer
    assert event["basis"] == f"assignment:{assignment_id}"
    shown = await client.get(r.headers["location"])
    assert "The assignment was revoked." in shown.text


@pytest.mark.parametrize("role", REFUSED_ROLES)
async def test_other_roles_are_refused_the_partners_and_keys_as_by_the_api(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory, make_customer: Any, role: str
) -> None:
    customer = await make_customer()
    partner_id = await save_partner(app)
    grant_id = await save_grant(app, partner_id, {"phone": "masked"})
    assignment_id = await save_assignment(app, partner_id, customer)
    person = await issue(role, f"{role}-partners")
    csrf = await sign_in(client, person.token, "en")
    for path in (PARTNERS, f"{PARTNERS}/{partner_id}", "/console/keys"):
        assert (await client.get(path)).status_code == 403, path
    for action in ("partner.list", "grant.list", "keys.status"):
        (denied,) = await access_events(app, action=action, outcome="denied")
        assert denied["reason"] == "role_not_permitted"
    posts = [
        (PARTNERS, {"name": "X", "contract_ref": "Y"}, "partner.create"),
        (
            f"{PARTNERS}/{partner_id}/grants",
            {"field_phone": "plain", "valid_from": "2026-12-01", "valid_until": "2026-12-02"},
            "grant.create",
        ),
        (f"{PARTNERS}/{partner_id}/grants/{grant_id}/revoke", {}, "grant.revoke"),
    ]
    if role != "employee":  # the policy lets an employee revoke an assignment (API and console)
        posts.append(
            (
                f"{PARTNERS}/{partner_id}/assignments/{assignment_id}/revoke",
                {},
                "assignment.revoke",
            )
        )
    for path, data, action in posts:
        r = await post_form(client, path, {"csrf": csrf, "once": action, **data})
        assert r.status_code == 403, (path, r.text)
        (denied,) = await access_events(app, action=action, outcome="denied")
        assert denied["reason"] == "role_not_permitted"
    assert (await client.get("/v1/admin/keys", headers=person.headers)).status_code == 403
    assert await count(app, Partner) == 1
    assert await count(app, Grant) == 1
    async with app.state.runtime.sessions() as session:
        grant = await session.get(Grant, grant_id)
    assert grant is not None
    assert grant.revoked_at is None


async def test_the_keys_page_shows_the_apis_status_and_the_rewraps_figures(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory, make_customer: Any
) -> None:
    for _ in range(3):
        await make_customer()
    admin, _ = await admin_in(client, issue)
    primary = app.state.runtime.keys.primary_version
    # One customer's key is taken back under an older version, as before a rotation.
    async with app.state.runtime.sessions() as session:
        first = (await session.scalars(select(Customer.id).order_by(Customer.id))).first()
        await session.execute(
            update(Customer).where(Customer.id == first).values(kek_version=primary - 1)
        )
        await session.commit()
    page = await client.get("/console/keys")
    assert page.status_code == 200, page.text
    assert_strict_headers(page)
    api = (await client.get("/v1/admin/keys", headers=admin.headers)).json()
    assert f"<dd>{api['primary_version']}</dd>" in page.text
    total = sum(v["data_keys"] for v in api["versions"])
    done = sum(v["data_keys"] for v in api["versions"] if v["primary"])
    assert total - done >= 1
    match = re.search(r'<progress id="rewrap-progress" max="(\d+)" value="(\d+)">', page.text)
    assert match
    assert (int(match.group(1)), int(match.group(2))) == (total, done)
    assert f"{done} of {total}" in page.text
    assert f"{total - done} data keys are still wrapped under an older version, 1 of them" in (
        page.text
    )
    events = await access_events(app, action="keys.status")
    assert len(events) == 2  # the console's and the API's: the same event
    assert events[0]["request_id"].startswith("console:")


async def test_a_post_without_csrf_changes_no_partner_grant_or_assignment(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory, make_customer: Any
) -> None:
    customer = await make_customer()
    partner_id = await save_partner(app)
    grant_id = await save_grant(app, partner_id, {"phone": "masked"})
    assignment_id = await save_assignment(app, partner_id, customer)
    await admin_in(client, issue)
    for path, data in [
        (PARTNERS, {"name": "Giả Mạo", "contract_ref": "HD"}),
        (
            f"{PARTNERS}/{partner_id}/grants",
            {
                "field_phone": "plain",
                "valid_from": "2026-12-01",
                "valid_until": "2026-12-02",
                "contract_ref": "HD",
            },
        ),
        (f"{PARTNERS}/{partner_id}/grants/{grant_id}/revoke", {}),
        (f"{PARTNERS}/{partner_id}/assignments/{assignment_id}/revoke", {}),
    ]:
        for forged in ({}, {"csrf": "wrong"}):
            r = await post_form(client, path, {**data, **forged})
            assert r.status_code == 403, path
            assert "<code>csrf</code>" in r.text
    assert await count(app, Partner) == 1
    assert await count(app, Grant) == 1
    async with app.state.runtime.sessions() as session:
        grant = await session.get(Grant, grant_id)
        assignment = await session.get(Assignment, assignment_id)
    assert grant is not None
    assert grant.revoked_at is None
    assert assignment is not None
    assert assignment.revoked_at is None
    for action in ("partner.create", "grant.create", "grant.revoke", "assignment.revoke"):
        assert await access_events(app, action=action) == []
