"""The administrator's desk (issue 19.3), principals and tokens, through the ASGI client: the
admin's pages call the API's services and write the API's events; the other roles are refused
as the API refuses them; bad forms change nothing; a double submit acts once; a token is
shown once, never in a URL, a log line or the idempotency store."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from pdvault.console.models import ConsoleSession
from pdvault.idempotency import IdempotencyRecord
from pdvault.principals.models import Principal, Token
from tests.conftest import Issued, TokenFactory, access_events
from tests.console.conftest import post_form, sign_in
from tests.console.test_safety import assert_strict_headers

PRINCIPALS = "/console/principals"
_ONCE = re.compile(r'name="once" value="([^"]+)"')
_TOKEN_FIELD = re.compile(r'<textarea id="token" name="token"[^>]*>([^<]+)</textarea>')
REFUSED_ROLES = ("dpo", "auditor", "legal", "employee")


def once_of(html: str) -> str:
    found = _ONCE.search(html)
    assert found, "no once field on the page"
    return found.group(1)


async def count(app: Any, model: Any, *where: Any) -> int:
    async with app.state.runtime.sessions() as session:
        query = select(func.count()).select_from(model)
        for w in where:
            query = query.where(w)
        return int(await session.scalar(query) or 0)


async def admin_in(client: httpx.AsyncClient, issue: TokenFactory) -> tuple[Issued, str]:
    admin = await issue("admin", "desk-admin")
    csrf = await sign_in(client, admin.token, "en")
    return admin, csrf


async def test_the_admin_lists_and_creates_a_principal_with_the_apis_event(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory
) -> None:
    admin, csrf = await admin_in(client, issue)
    page = await client.get(PRINCIPALS)
    assert page.status_code == 200, page.text
    assert_strict_headers(page)
    assert "desk-admin" in page.text
    assert 'href="/console/principals"' in page.text  # in the navigation

    r = await post_form(
        client,
        PRINCIPALS,
        {"csrf": csrf, "once": once_of(page.text), "name": "Lê Thị Nhân Viên", "role": "employee"},
    )
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert location.startswith(f"{PRINCIPALS}/")
    assert location.endswith("?done=principal_created")
    async with app.state.runtime.sessions() as session:
        made = await session.scalar(select(Principal).where(Principal.name == "Lê Thị Nhân Viên"))
    assert made is not None
    assert made.role == "employee"
    assert str(made.id) in location
    shown = await client.get(location)
    assert "The principal was created." in shown.text
    (event,) = await access_events(app, action="principal.create", target_principal_id=made.id)
    assert (event["outcome"], str(event["principal_id"])) == ("allowed", admin.principal_id)
    assert event["request_id"].startswith("console:")


async def test_a_double_submit_creates_one_principal(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory
) -> None:
    _, csrf = await admin_in(client, issue)
    page = await client.get(PRINCIPALS)
    form = {"csrf": csrf, "once": once_of(page.text), "name": "store-2", "role": "storefront"}
    first = await post_form(client, PRINCIPALS, form)
    second = await post_form(client, PRINCIPALS, form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert await count(app, Principal, Principal.name == "store-2") == 1
    assert len(await access_events(app, action="principal.create")) == 1


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "", "role": "employee"}, "name", "Enter a name of 1 to 200 characters."),
        ({"name": "x", "role": "king"}, "role", "Not one of the listed values."),
        (
            {"name": "x", "role": "partner"},
            "partner_id",
            "Choose a partner for the partner role, and only for it.",
        ),
        (
            {"name": "x", "role": "employee", "partner_id": "not-an-id"},
            "partner_id",
            "Choose a partner for the partner role, and only for it.",
        ),
    ],
)
async def test_a_bad_principal_form_is_422_beside_its_field_and_changes_nothing(
    app: Any,
    client: httpx.AsyncClient,
    issue: TokenFactory,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    _, csrf = await admin_in(client, issue)
    before = await count(app, Principal)
    page = await client.get(PRINCIPALS)
    r = await post_form(client, PRINCIPALS, {"csrf": csrf, "once": once_of(page.text), **fields})
    assert r.status_code == 422, r.text
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', r.text), r.text
    assert message in r.text
    assert await count(app, Principal) == before
    assert await access_events(app, action="principal.create") == []


async def test_a_name_taken_is_shown_beside_the_name_in_vietnamese(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory
) -> None:
    await issue("employee", "taken-name")
    admin = await issue("admin", "desk-admin-vi")
    csrf = await sign_in(client, admin.token, "vi")
    page = await client.get(PRINCIPALS)
    r = await post_form(
        client,
        PRINCIPALS,
        {"csrf": csrf, "once": once_of(page.text), "name": "taken-name", "role": "dpo"},
    )
    assert r.status_code == 422
    assert "Đã có một chủ thể truy cập mang tên này." in r.text
    assert "Tạo chủ thể truy cập" in r.text
    assert re.search(r'id="name"[^>]*aria-invalid="true"', r.text)
    assert await count(app, Principal, Principal.name == "taken-name") == 1


@pytest.mark.parametrize("role", REFUSED_ROLES)
async def test_other_roles_are_refused_every_route_as_the_api_refuses_them(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory, role: str
) -> None:
    target = await issue("employee", "target-person")
    person = await issue(role, f"{role}-at-desk")
    csrf = await sign_in(client, person.token, "en")
    start = await client.get("/console/")
    assert 'href="/console/principals"' not in start.text
    assert (await client.get(PRINCIPALS)).status_code == 403
    assert (await client.get(f"{PRINCIPALS}/{target.principal_id}")).status_code == 403
    for action in ("principal.list", "token.list"):
        (denied,) = await access_events(app, action=action, outcome="denied")
        assert denied["reason"] == "role_not_permitted"
    posts = [
        (PRINCIPALS, {"name": "sneaky", "role": "admin"}, "principal.create"),
        (f"{PRINCIPALS}/{target.principal_id}/disable", {}, "principal.disable"),
        (f"{PRINCIPALS}/{target.principal_id}/tokens", {"expires_in_days": "7"}, "token.create"),
        (f"/console/tokens/{target.token_id}/revoke", {}, "token.revoke"),
    ]
    for path, data, action in posts:
        r = await post_form(client, path, {"csrf": csrf, "once": "x" + action, **data})
        assert r.status_code == 403, (path, r.text)
        denied = await access_events(app, action=action, outcome="denied", role=role)
        assert len(denied) == 1, action
        assert denied[0]["reason"] == "role_not_permitted"
    # And the API refuses the same role the same operations.
    api = await client.post(
        "/v1/principals", json={"name": "sneaky", "role": "admin"}, headers=person.headers
    )
    assert api.status_code == 403
    assert await count(app, Principal, Principal.name == "sneaky") == 0
    async with app.state.runtime.sessions() as session:
        token = await session.get(Token, uuid.UUID(target.token_id))
        principal = await session.get(Principal, uuid.UUID(target.principal_id))
    assert token is not None
    assert token.revoked_at is None
    assert principal is not None
    assert principal.disabled_at is None
    assert await count(app, Token, Token.principal_id == uuid.UUID(target.principal_id)) == 1


async def test_a_post_without_csrf_is_refused_and_changes_nothing(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory
) -> None:
    target = await issue("employee", "csrf-target")
    await admin_in(client, issue)
    for path, data in [
        (PRINCIPALS, {"name": "forged", "role": "admin"}),
        (f"{PRINCIPALS}/{target.principal_id}/disable", {}),
        (f"{PRINCIPALS}/{target.principal_id}/tokens", {"expires_in_days": "7"}),
        (f"/console/tokens/{target.token_id}/revoke", {}),
    ]:
        r = await post_form(client, path, data)
        assert r.status_code == 403, path
        assert "<code>csrf</code>" in r.text
    assert await count(app, Principal, Principal.name == "forged") == 0
    assert await count(app, Token, Token.principal_id == uuid.UUID(target.principal_id)) == 1
    async with app.state.runtime.sessions() as session:
        principal = await session.get(Principal, uuid.UUID(target.principal_id))
    assert principal is not None
    assert principal.disabled_at is None


async def test_a_token_is_shown_once_never_stored_nor_logged_and_works_at_sign_in(
    app: Any,
    client: httpx.AsyncClient,
    issue: TokenFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin, csrf = await admin_in(client, issue)
    person = await issue("employee", "gets-a-token")
    page = await client.get(f"{PRINCIPALS}/{person.principal_id}")
    assert page.status_code == 200
    assert person.token_id in page.text  # its first token, by id
    form = {"csrf": csrf, "once": once_of(page.text), "expires_in_days": "30"}
    caplog.set_level(logging.DEBUG)
    r = await post_form(client, f"{PRINCIPALS}/{person.principal_id}/tokens", form)
    assert r.status_code == 200, r.text
    assert_strict_headers(r)
    assert r.headers["cache-control"] == "no-store"
    found = _TOKEN_FIELD.search(r.text)
    assert found, r.text
    token = found.group(1)
    assert token.startswith("pdv_")
    assert "It will not be shown again" in r.text
    assert 'data-copy="token"' in r.text
    assert re.search(r'<textarea id="token"[^>]*readonly', r.text)
    assert str(r.url).endswith("/tokens")
    assert token not in str(r.url)
    assert "<script>" not in r.text

    async with app.state.runtime.sessions() as session:
        tokens = (
            await session.scalars(
                select(Token).where(Token.principal_id == uuid.UUID(person.principal_id))
            )
        ).all()
        records = (await session.scalars(select(IdempotencyRecord))).all()
    assert len(tokens) == 2
    new = next(t for t in tokens if str(t.id) != person.token_id)
    assert new.issued_by == uuid.UUID(admin.principal_id)
    assert (new.expires_at - new.created_at).days == 30
    assert records
    assert all(token.encode() not in bytes(rec.body or b"") for rec in records)
    assert all(token not in rec.getMessage() for rec in caplog.records)
    (event,) = await access_events(app, action="token.create")
    assert str(event["target_token_id"]) == str(new.id)
    assert str(event["target_principal_id"]) == person.principal_id

    # A second submit of the same drawn form issues nothing and does not show the token.
    again = await post_form(client, f"{PRINCIPALS}/{person.principal_id}/tokens", form)
    assert again.status_code == 200
    assert token not in again.text
    assert _TOKEN_FIELD.search(again.text) is None
    assert "it is shown only once" in again.text
    assert str(new.id) in again.text
    assert await count(app, Token, Token.principal_id == uuid.UUID(person.principal_id)) == 2
    assert len(await access_events(app, action="token.create")) == 1

    # The token works: its holder signs in to the console.
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with other:
        await sign_in(other, token)


@pytest.mark.parametrize("days", ["", "0", "3651", "seven", "-3", "1.5"])
async def test_a_bad_validity_is_422_and_issues_nothing(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory, days: str
) -> None:
    _, csrf = await admin_in(client, issue)
    person = await issue("employee", "bad-days")
    page = await client.get(f"{PRINCIPALS}/{person.principal_id}")
    r = await post_form(
        client,
        f"{PRINCIPALS}/{person.principal_id}/tokens",
        {"csrf": csrf, "once": once_of(page.text), "expires_in_days": days},
    )
    assert r.status_code == 422
    assert "A whole number of days from 1 to 3650." in r.text
    assert _TOKEN_FIELD.search(r.text) is None
    assert await count(app, Token, Token.principal_id == uuid.UUID(person.principal_id)) == 1
    assert await access_events(app, action="token.create") == []


async def test_a_revoked_token_is_refused_at_sign_in_and_its_session_ends(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory
) -> None:
    _, csrf = await admin_in(client, issue)
    person = await issue("employee", "to-revoke")
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with other:
        await sign_in(other, person.token)
        page = await client.get(f"{PRINCIPALS}/{person.principal_id}")
        form = {"csrf": csrf, "once": once_of(page.text)}
        r = await post_form(client, f"/console/tokens/{person.token_id}/revoke", form)
        assert r.status_code == 303
        assert r.headers["location"] == f"{PRINCIPALS}/{person.principal_id}?done=token_revoked"
        again = await post_form(client, f"/console/tokens/{person.token_id}/revoke", form)
        assert again.status_code == 303
        assert len(await access_events(app, action="token.revoke")) == 1
        (event,) = await access_events(app, action="token.revoke")
        assert str(event["target_token_id"]) == person.token_id
        assert (
            await count(app, ConsoleSession, ConsoleSession.token_id == uuid.UUID(person.token_id))
            == 0
        )
        # The holder's open session has ended ...
        assert (await other.get("/console/")).status_code == 303
        # ... and the token is refused at sign-in.
        r = await post_form(other, "/console/sign-in", {"token": person.token, "language": "en"})
        assert r.status_code == 401
        assert "This token is unknown, expired or revoked." in r.text
        (refusal,) = await access_events(app, action="auth.token", outcome="denied")
        assert str(refusal["token_id"]) == person.token_id
    shown = await client.get(f"{PRINCIPALS}/{person.principal_id}?done=token_revoked")
    assert "The token was revoked." in shown.text
    assert "revoked" in shown.text


async def test_disabling_ends_the_principals_console_sessions_at_once(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory
) -> None:
    _, csrf = await admin_in(client, issue)
    person = await issue("dpo", "to-disable")
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with other:
        await sign_in(other, person.token)
        pid = uuid.UUID(person.principal_id)
        assert await count(app, ConsoleSession, ConsoleSession.principal_id == pid) == 1
        page = await client.get(f"{PRINCIPALS}/{person.principal_id}")
        form = {"csrf": csrf, "once": once_of(page.text)}
        r = await post_form(client, f"{PRINCIPALS}/{person.principal_id}/disable", form)
        assert r.status_code == 303
        assert r.headers["location"].endswith("?done=principal_disabled")
        # The rows are gone in the same transaction, not at the next request.
        assert await count(app, ConsoleSession, ConsoleSession.principal_id == pid) == 0
        assert (await other.get("/console/")).status_code == 303
        assert (
            await post_form(client, f"{PRINCIPALS}/{person.principal_id}/disable", form)
        ).status_code == 303
        (event,) = await access_events(app, action="principal.disable")
        assert str(event["target_principal_id"]) == person.principal_id
        shown = await client.get(r.headers["location"])
        assert "disabled" in shown.text
        assert "Issue the token" not in shown.text  # no token for a disabled principal
        # A token form drawn before the disabling is refused, beside the form.
        r = await post_form(
            client,
            f"{PRINCIPALS}/{person.principal_id}/tokens",
            {"csrf": csrf, "once": once_of(page.text) + "t", "expires_in_days": "7"},
        )
        assert r.status_code == 422 or r.status_code == 409
        assert "That principal is disabled." in r.text
        assert await count(app, Token, Token.principal_id == pid) == 1


async def test_an_unknown_principal_or_token_is_404(
    client: httpx.AsyncClient, issue: TokenFactory
) -> None:
    _, csrf = await admin_in(client, issue)
    nobody = uuid.uuid4()
    assert (await client.get(f"{PRINCIPALS}/{nobody}")).status_code == 404
    r = await post_form(client, f"/console/tokens/{nobody}/revoke", {"csrf": csrf})
    assert r.status_code == 404


async def test_a_partner_principal_is_linked_to_a_known_partner_only(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory
) -> None:
    from tests.console.test_admindesk_partners import save_partner

    partner_id = await save_partner(app, "Liên Kết")
    _, csrf = await admin_in(client, issue)
    page = await client.get(PRINCIPALS)
    assert f'<option value="{partner_id}">Liên Kết</option>' in page.text
    unknown = await post_form(
        client,
        PRINCIPALS,
        {
            "csrf": csrf,
            "once": once_of(page.text),
            "name": "ghost-link",
            "role": "partner",
            "partner_id": str(uuid.uuid4()),
        },
    )
    assert unknown.status_code == 422
    assert re.search(r'id="partner_id"[^>]*aria-invalid="true"', unknown.text)
    assert await count(app, Principal, Principal.name == "ghost-link") == 0
    made = await post_form(
        client,
        PRINCIPALS,
        {
            "csrf": csrf,
            "once": once_of(page.text),
            "name": "partner-system",
            "role": "partner",
            "partner_id": str(partner_id),
        },
    )
    assert made.status_code == 303
    async with app.state.runtime.sessions() as session:
        principal = await session.scalar(
            select(Principal).where(Principal.name == "partner-system")
        )
    assert principal is not None
    assert principal.partner_id == partner_id
