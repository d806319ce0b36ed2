"""Console test helpers: sign in through the console's own form, post forms as a browser of
the console would (its Origin and the session's CSRF token)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

ORIGIN = "http://testserver"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def post_form(
    client: httpx.AsyncClient,
    path: str,
    data: dict[str, str],
    *,
    origin: str | None = ORIGIN,
    headers: dict[str, str] | None = None,
    **kw: Any,
) -> httpx.Response:
    sent = {"Origin": origin} if origin is not None else {}
    return await client.post(path, data=data, headers={**sent, **(headers or {})}, **kw)


async def sign_in(client: httpx.AsyncClient, token: str, language: str = "vi") -> str:
    """Signs ``client`` in with ``token``; returns the session's CSRF token."""
    r = await post_form(client, "/console/sign-in", {"token": token, "language": language})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/"
    page = await client.get("/console/")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


SignIn = Callable[..., Awaitable[str]]


@pytest.fixture
def console_sign_in(client: httpx.AsyncClient) -> SignIn:
    async def _sign_in(token: str, language: str = "vi") -> str:
        return await sign_in(client, token, language)

    return _sign_in
