"""Console sign-in and sessions (issue 18.1): personal tokens of the console's roles only,
the cookie holds a random id whose hash is stored, idle and absolute lifetimes on an injected
clock, sign-out here and everywhere, revocation and disabling end sessions at once."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from pdvault.console.models import ConsoleSession
from pdvault.db import utcnow
from pdvault.principals.models import Principal, Token
from tests.conftest import TokenFactory, access_events
from tests.console.conftest import SignIn, post_form
from tests.helpers import FakeClock

CONSOLE_ROLES = ["dpo", "legal", "auditor", "admin", "employee"]


async def _sessions(app: Any) -> list[ConsoleSession]:
    async with app.state.runtime.sessions() as session:
        return list((await session.scalars(select(ConsoleSession))).all())


@pytest.mark.parametrize("role", CONSOLE_ROLES)
async def test_each_console_role_signs_in(
    client: httpx.AsyncClient, issue: TokenFactory, console_sign_in: SignIn, role: str, app: Any
) -> None:
    person = await issue(role)
    await console_sign_in(person.token)
    events = await access_events(app, action="console.sign_in", outcome="allowed")
    assert [str(e["principal_id"]) for e in events] == [person.principal_id]
    assert events[0]["request_id"].startswith("console:")


async def test_cookie_holds_only_a_random_id_whose_hash_is_stored(
    client: httpx.AsyncClient, issue: TokenFactory, app: Any
) -> None:
    person = await issue("auditor")
    r = await post_form(client, "/console/sign-in", {"token": person.token, "language": "vi"})
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # not configured here; see the secure-cookie test
    session_id = client.cookies["pdvault_console"]
    assert person.token not in cookie
    [held] = await _sessions(app)
    assert held.id_hash == hashlib.sha256(session_id.encode()).hexdigest()
    assert session_id not in {held.id_hash, held.csrf_token}


@pytest.mark.parametrize("role", ["storefront", "partner"])
async def test_system_tokens_are_refused_with_a_clear_message(
    client: httpx.AsyncClient, issue: TokenFactory, role: str, app: Any
) -> None:
    partner_id = None
    if role == "partner":
        from pdvault.partners.models import Partner

        async with app.state.runtime.sessions() as session:
            partner = Partner(name="Đối tác mẫu", contract_ref="HD-MAU-1")
            session.add(partner)
            await session.commit()
            partner_id = str(partner.id)
    system = await issue(role, partner_id=partner_id)
    r = await post_form(client, "/console/sign-in", {"token": system.token, "language": "en"})
    assert r.status_code == 403
    assert "The console is for people" in r.text
    assert "pdvault_console" not in r.headers.get("set-cookie", "")
    assert await _sessions(app) == []
    [event] = await access_events(app, action="console.sign_in")
    assert (event["outcome"], event["reason"]) == ("denied", "role_not_permitted")


async def test_failed_sign_ins_count_toward_the_token_guessing_limit(
    client: httpx.AsyncClient, issue: TokenFactory, app: Any
) -> None:
    app.state.runtime.settings.auth_failure_limit = 3  # the limiter was built from settings
    limiter = app.state.runtime.auth_failures
    limiter.limit = 3
    storefront = await issue("storefront")
    for token in ["pdv_" + "x" * 43, "not a token", storefront.token]:
        r = await post_form(client, "/console/sign-in", {"token": token})
        assert r.status_code in (401, 403), r.text
    r = await post_form(client, "/console/sign-in", {"token": "pdv_" + "y" * 43})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
    # The API's bearer check shares the count: the same address is throttled there too.
    api = await client.get("/v1/audit/events", headers={"Authorization": "Bearer pdv_" + "z" * 43})
    assert api.status_code == 429


async def test_a_page_without_a_session_goes_to_sign_in(client: httpx.AsyncClient) -> None:
    r = await client.get("/console/")
    assert (r.status_code, r.headers["location"]) == (303, "/console/sign-in")
    client.cookies.set("pdvault_console", "forged-id")
    r = await client.get("/console/")
    assert (r.status_code, r.headers["location"]) == (303, "/console/sign-in")


async def test_idle_timeout_and_absolute_lifetime(
    client: httpx.AsyncClient,
    issue: TokenFactory,
    console_sign_in: SignIn,
    app: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(app.state.console.sessions, "now", clock.now)
    person = await issue("dpo")
    await console_sign_in(person.token)
    idle = app.state.console.sessions.idle.total_seconds()
    clock.advance(idle - 61)
    assert (await client.get("/console/")).status_code == 200  # use keeps it alive
    clock.advance(idle - 61)
    assert (await client.get("/console/")).status_code == 200
    clock.advance(idle + 1)
    assert (await client.get("/console/")).status_code == 303
    assert await _sessions(app) == []

    await console_sign_in(person.token)
    lifetime = app.state.console.sessions.lifetime.total_seconds()
    steps = int(lifetime // (idle / 2)) + 1
    for _ in range(steps):
        clock.advance(idle / 2)
        if (await client.get("/console/")).status_code == 303:
            break
    else:
        pytest.fail("the session outlived its absolute lifetime")
    assert await _sessions(app) == []


async def test_sign_out_ends_the_session(
    client: httpx.AsyncClient, issue: TokenFactory, console_sign_in: SignIn, app: Any
) -> None:
    person = await issue("legal")
    csrf = await console_sign_in(person.token)
    session_id = client.cookies["pdvault_console"]
    r = await post_form(client, "/console/sign-out", {"csrf": csrf})
    assert (r.status_code, r.headers["location"]) == (303, "/console/sign-in")
    assert await _sessions(app) == []
    # The old cookie, replayed, opens nothing.
    client.cookies.set("pdvault_console", session_id)
    r = await client.get("/console/")
    assert r.status_code == 303


async def test_sign_out_everywhere_ends_every_session_of_the_principal(
    app: Any, issue: TokenFactory
) -> None:
    person = await issue("admin")
    other = await issue("auditor")
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        for _ in range(3)
    ]
    from tests.console.conftest import sign_in

    try:
        csrf = await sign_in(clients[0], person.token)
        await sign_in(clients[1], person.token)
        await sign_in(clients[2], other.token)
        r = await post_form(clients[0], "/console/sign-out-everywhere", {"csrf": csrf})
        assert r.status_code == 303
        assert (await clients[1].get("/console/")).status_code == 303
        assert (await clients[2].get("/console/")).status_code == 200
    finally:
        for c in clients:
            await c.aclose()


@pytest.mark.parametrize("how", ["revoke", "disable", "expire"])
async def test_revoked_token_or_disabled_principal_ends_the_session_at_once(
    client: httpx.AsyncClient, issue: TokenFactory, console_sign_in: SignIn, app: Any, how: str
) -> None:
    person = await issue("employee")
    await console_sign_in(person.token)
    async with app.state.runtime.sessions() as session:
        if how == "disable":
            await session.execute(
                update(Principal)
                .where(Principal.id == __import__("uuid").UUID(person.principal_id))
                .values(disabled_at=utcnow())
            )
        else:
            column = "revoked_at" if how == "revoke" else "expires_at"
            await session.execute(
                update(Token)
                .where(Token.id == __import__("uuid").UUID(person.token_id))
                .values({column: utcnow()})
            )
        await session.commit()
    assert (await client.get("/console/")).status_code == 303
    assert await _sessions(app) == []


async def test_the_console_can_be_turned_off(settings: Any, keyring: Any) -> None:
    from pdvault.crypto.provider import LocalKeyProvider
    from pdvault.main import create_app

    off = create_app(settings.model_copy(update={"console": False}), LocalKeyProvider(keyring))
    async with off.router.lifespan_context(off):
        transport = httpx.ASGITransport(app=off)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            for path in [
                "/console",
                "/console/",
                "/console/sign-in",
                "/console/static/console.css",
            ]:
                assert (await c.get(path)).status_code == 404, path
            assert (await c.post("/console/sign-in", data={"token": "x"})).status_code in (404, 415)


async def test_secure_cookie_when_configured(
    client: httpx.AsyncClient, issue: TokenFactory, app: Any
) -> None:
    app.state.console.settings.console_secure_cookie = True
    person = await issue("auditor")
    r = await post_form(client, "/console/sign-in", {"token": person.token})
    assert "Secure" in r.headers["set-cookie"]
