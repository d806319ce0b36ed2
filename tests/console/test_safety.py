"""The console's pages are safe (issue 18.2): CSRF token and Origin/Referer on every
state-changing form, a strict CSP that forbids framing, no-store, everything escaped."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from pdvault.console.models import ConsoleSession
from tests.conftest import TokenFactory
from tests.console.conftest import ORIGIN, SignIn, post_form

STATE_CHANGING = [
    ("/console/sign-out", {}),
    ("/console/sign-out-everywhere", {}),
    ("/console/language", {"language": "en", "next": "/console/"}),
]


async def _count_sessions(app: Any) -> int:
    async with app.state.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(ConsoleSession)) or 0)


def assert_strict_headers(r: httpx.Response) -> None:
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    for loose in ("unsafe-inline", "unsafe-eval", "http", "*", "data:"):
        assert loose not in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(("path", "data"), STATE_CHANGING)
async def test_a_forged_post_without_the_csrf_token_is_refused(
    client: httpx.AsyncClient,
    issue: TokenFactory,
    console_sign_in: SignIn,
    app: Any,
    path: str,
    data: dict[str, str],
) -> None:
    person = await issue("auditor")
    csrf = await console_sign_in(person.token)
    for forged in [{}, {"csrf": "wrong"}, {"csrf": csrf[:-1]}]:
        r = await post_form(client, path, {**data, **forged})
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("text/html")
        assert "<code>csrf</code>" in r.text
    # The right token from another site (its Origin, or only its Referer) is refused too.
    r = await post_form(client, path, {**data, "csrf": csrf}, origin="https://evil.example")
    assert r.status_code == 403
    r = await post_form(
        client,
        path,
        {**data, "csrf": csrf},
        origin=None,
        headers={"Referer": "https://evil.example/x"},
    )
    assert r.status_code == 403
    r = await post_form(client, path, {**data, "csrf": csrf}, origin=None)
    assert r.status_code == 403  # neither Origin nor Referer: refused
    assert await _count_sessions(app) == 1
    page = await client.get("/console/")
    assert 'lang="vi"' in page.text  # the language did not change either
    # With the token and the console's own Referer, it goes through.
    r = await post_form(
        client, path, {**data, "csrf": csrf}, origin=None, headers={"Referer": f"{ORIGIN}/console/"}
    )
    assert r.status_code == 303


async def test_sign_in_from_another_site_is_refused(
    client: httpx.AsyncClient, issue: TokenFactory, app: Any
) -> None:
    person = await issue("auditor")
    r = await post_form(
        client, "/console/sign-in", {"token": person.token}, origin="https://evil.example"
    )
    assert r.status_code == 403
    assert await _count_sessions(app) == 0


async def test_every_page_has_the_strict_headers(
    client: httpx.AsyncClient, issue: TokenFactory, console_sign_in: SignIn
) -> None:
    assert_strict_headers(await client.get("/console/sign-in"))
    person = await issue("auditor")
    await console_sign_in(person.token)
    for path in ["/console/", "/console/static/console.css"]:
        r = await client.get(path)
        assert r.status_code == 200
        assert_strict_headers(r)
    assert (
        (await client.get("/console/static/console.css"))
        .headers["content-type"]
        .startswith("text/css")
    )


async def test_pages_have_no_inline_script_or_style(
    client: httpx.AsyncClient, issue: TokenFactory, console_sign_in: SignIn
) -> None:
    person = await issue("auditor")
    await console_sign_in(person.token)
    for path in ["/console/sign-in", "/console/"]:
        html = (await client.get(path)).text
        assert "<style" not in html
        assert " style=" not in html
        assert " on" not in html.replace(" one", "")  # no onclick= and the like
        for tag in html.split("<script")[1:]:
            assert tag.lstrip().startswith("src="), tag[:80]


async def test_the_static_route_serves_only_its_own_files(client: httpx.AsyncClient) -> None:
    for name in ["../router.py", "..%2Frouter.py", "console.py", "missing.css"]:
        r = await client.get(f"/console/static/{name}")
        assert r.status_code == 404, name


async def test_a_name_holding_html_is_escaped(
    client: httpx.AsyncClient, issue: TokenFactory, console_sign_in: SignIn
) -> None:
    person = await issue("dpo", name="<script>alert(1)</script>")
    await console_sign_in(person.token)
    html = (await client.get("/console/")).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_a_console_form_that_is_not_a_form_is_refused(
    client: httpx.AsyncClient, issue: TokenFactory
) -> None:
    person = await issue("auditor")
    r = await client.post(
        "/console/sign-in", json={"token": person.token}, headers={"Origin": ORIGIN}
    )
    assert r.status_code == 415
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_the_language_switch_returns_only_to_console_pages(
    client: httpx.AsyncClient, issue: TokenFactory, console_sign_in: SignIn
) -> None:
    person = await issue("auditor")
    csrf = await console_sign_in(person.token)
    for target in [
        "https://evil.example/",
        "//evil.example/console/",
        "/v1/audit/events",
        "/console/audit/events\r\nSet-Cookie: x=1",
    ]:
        r = await post_form(
            client, "/console/language", {"csrf": csrf, "language": "en", "next": target}
        )
        assert r.headers["location"] == "/console/"


async def test_the_language_switch_keeps_the_pages_query(
    client: httpx.AsyncClient, issue: TokenFactory, console_sign_in: SignIn
) -> None:
    person = await issue("auditor")
    csrf = await console_sign_in(person.token)
    page = await client.get("/console/audit/events", params={"outcome": "denied"})
    assert page.status_code == 200
    assert 'name="next" value="/console/audit/events?outcome=denied"' in page.text
    r = await post_form(
        client,
        "/console/language",
        {"csrf": csrf, "language": "en", "next": "/console/audit/events?outcome=denied"},
    )
    assert r.headers["location"] == "/console/audit/events?outcome=denied"


async def test_the_console_is_not_in_the_openapi_document(app: Any) -> None:
    paths = app.openapi()["paths"]
    assert not [p for p in paths if p.startswith("/console")]


def test_a_page_under_a_room_marks_that_room_in_the_navigation() -> None:
    from pdvault.console.web import NAV, current_room

    assert current_room("/console/breaches/0190f3a0", NAV) == "/console/breaches"
    assert current_room("/console/customers/access-report", NAV) == (
        "/console/customers/access-report"
    )
    assert current_room("/console/customers", NAV) == "/console/customers"
    assert current_room("/console/", NAV) == "/console/"
    assert current_room("/console/sign-in", NAV) is None  # not under the start page
    assert current_room("/console/breachesX", NAV) is None  # a prefix, not a room
