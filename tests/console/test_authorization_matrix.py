"""No console route lets a role do what the API refuses it (issue 19's matrix).

Every console route is called by every role that may sign in (the storefront and partners
may not: tests/console/test_sessions.py), GET as a page is opened and POST as its form is
sent (same origin, the session's CSRF token, no fields). What a route guards is read from
the access log, not from a list kept by hand: a refused role's call writes a denial naming
the operation. Then, for that operation, the API's rule (``may_call``) must match the
console exactly: every role the API refuses gets the console's 403 with its logged denial,
every role it allows gets past the gate. No call writes an allowed event for an operation
the caller's role may not call. A route that no role is refused must be one of ``OPEN``,
named here with why; a new route that forgets its gate fails this test.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from pdvault.audit.models import AccessEvent
from pdvault.policy import Operation, Role, may_call
from tests.conftest import TokenFactory
from tests.console.conftest import ORIGIN, sign_in
from tests.helpers import walk_routes

PEOPLE = (Role.DPO, Role.LEGAL, Role.AUDITOR, Role.ADMIN, Role.EMPLOYEE)

# Routes every signed-in person (or anyone) may use, and why none of them reads or changes
# what the policy guards.
OPEN = {
    ("GET", "/console"): "redirects to the start page",
    ("GET", "/console/"): (
        "the start page: the person's own name, role and rooms; for a role that decides "
        "deletion requests, what is due, from the lists the policy lets it call (issue 19.1)"
    ),
    ("GET", "/console/sign-in"): "the sign-in form",
    ("POST", "/console/sign-in"): "signs in (refuses systems' tokens itself)",
    ("POST", "/console/sign-out"): "ends the person's own session",
    ("POST", "/console/sign-out-everywhere"): "ends the person's own sessions",
    ("POST", "/console/language"): "the person's own choice of language",
    ("GET", "/console/static/{name}"): "the console's CSS, script and icon",
}
_PARAM = re.compile(r"{(\w+)}")


def _console_routes(app: Any) -> list[tuple[str, str]]:
    return sorted(
        {
            (m, p)
            for m, p in walk_routes(app.routes)
            if p.startswith("/console") and m in {"GET", "POST"}
        }
    )


def _filled(path: str) -> str:
    """The path with its parameters: an id that exists nowhere (the gate answers before any
    lookup), a number, a file name."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in {"seq"}:
            return "1"
        if name == "name":
            return "console.css"
        return str(uuid.uuid4())

    return _PARAM.sub(value, path)


async def _last_seq(app: Any) -> int:
    async with app.state.runtime.sessions() as session:
        return int(await session.scalar(select(func.coalesce(func.max(AccessEvent.seq), 0))))


async def _events_after(app: Any, seq: int) -> list[AccessEvent]:
    async with app.state.runtime.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(AccessEvent).where(AccessEvent.seq > seq).order_by(AccessEvent.seq)
                )
            ).all()
        )


async def test_no_console_route_lets_a_role_do_what_the_api_refuses_it(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory
) -> None:
    routes = _console_routes(app)
    assert len(routes) > 20
    # (method, path) -> role -> (status, the operations denied to it, allowed to it)
    seen: dict[tuple[str, str], dict[Role, tuple[int, set[str], set[str]]]] = {}
    for role in PEOPLE:
        person = await issue(role.value)
        client.cookies.clear()
        csrf = await sign_in(client, person.token)
        for method, path in routes:
            if (method, path) in OPEN:
                continue
            url = _filled(path)
            before = await _last_seq(app)
            if method == "GET":
                r = await client.get(url)
            else:
                r = await client.post(url, data={"csrf": csrf}, headers={"Origin": ORIGIN})
            assert r.status_code < 500, (method, path, role, r.status_code)
            events = [e for e in await _events_after(app, before) if e.principal_id]
            denied = {e.action for e in events if e.outcome == "denied"}
            allowed = {e.action for e in events if e.outcome == "allowed"}
            seen.setdefault((method, path), {})[role] = (r.status_code, denied, allowed)
            for action in allowed:
                operation = Operation(action)
                assert may_call(role, operation), (method, path, role, action)

    for (method, path), by_role in seen.items():
        gated = {
            action for status, denied, _ in by_role.values() if status == 403 for action in denied
        }
        assert gated, f"{method} {path}: no role is refused; gate it, or name it in OPEN"
        assert len(gated) == 1, (method, path, gated)
        operation = Operation(gated.pop())
        for role, (status, denied, _) in by_role.items():
            if may_call(role, operation):
                assert status != 403 or operation.value not in denied, (method, path, role)
            else:
                assert status == 403, (method, path, role, status)
                assert operation.value in denied, (method, path, role)


def test_every_open_route_exists(app: Any) -> None:
    routes = set(_console_routes(app))
    assert set(OPEN) <= routes, set(OPEN) - routes
