"""Fixtures and helpers for the customer endpoint tests (principals of each role, checks)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from pdvault.customers.models import Customer
from tests.conftest import Issued, TokenFactory, access_events

RoleFactory = Callable[[str], Awaitable[Issued]]


@pytest.fixture
def as_role(client: httpx.AsyncClient, issue: TokenFactory, admin: Issued) -> RoleFactory:
    """A principal of any role; a partner principal gets a (fake) partner of its own first."""

    async def _as(role: str) -> Issued:
        if role == "admin":
            return admin  # one name per principal: a second "test-admin" would be refused
        if role != "partner":
            return await issue(role, f"test-{role}")
        r = await client.post(
            "/v1/partners",
            json={"name": "Giao Hàng Mẫu", "contract_ref": "HD-MAU-001"},
            headers=admin.headers,
        )
        assert r.status_code == 201, r.text
        return await issue("partner", "test-partner", partner_id=r.json()["id"])

    return _as


@pytest.fixture
async def shop(issue: TokenFactory) -> Issued:
    return await issue("storefront", "test-storefront")


@pytest.fixture
async def staff(issue: TokenFactory) -> Issued:
    return await issue("employee", "test-employee")


@pytest.fixture
async def dpo(issue: TokenFactory) -> Issued:
    return await issue("dpo", "test-dpo")


def error_locs(body: dict[str, Any]) -> list[list[str]]:
    return [[str(p) for p in e["loc"]] for e in body.get("errors", [])]


def names_field(body: dict[str, Any], name: str) -> bool:
    """Some validation error's location names this field."""
    return any(name in loc for loc in error_locs(body))


def assert_no_values(text: str, values: Iterable[str]) -> None:
    for value in values:
        assert value not in text, f"a personal value leaked: {value!r}"


async def count_customers(app: Any) -> int:
    async with app.state.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Customer)) or 0)


def pii_of(body: dict[str, Any]) -> list[str]:
    """The personal values of a customer body, as sent and as a reader could see them."""
    from pdvault.customers import normalize

    return [
        body["full_name"],
        body["email"],
        body["phone"],
        normalize.phone(body["phone"]),
        body["address"],
    ]


def assert_response_has_no(r: httpx.Response, values: Iterable[str]) -> None:
    """Neither the raw body nor its decoded JSON (escapes resolved) holds any of the values."""
    import json

    texts = [r.text]
    if r.headers.get("content-type", "").split(";")[0].endswith("json"):
        texts.append(json.dumps(r.json(), ensure_ascii=False))
    for text in texts:
        assert_no_values(text, values)


async def customer_events(app: Any, **where: Any) -> list[dict[str, Any]]:
    """Access events of the customer endpoints only (admin setup logs its own actions)."""
    return [e for e in await access_events(app, **where) if e["action"].startswith("customer.")]
