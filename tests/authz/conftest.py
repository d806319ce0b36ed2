"""Fixtures for the authorization tests: one principal of every role, and a tail on the log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from pdvault.audit.models import AccessEvent
from tests.conftest import Issued, TokenFactory, customer_body
from tests.policy.expected import ROLES


class EventTail:
    """The access events written since the last look (by ``seq``), never the earlier ones."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seq = 0

    async def mark(self) -> None:
        async with self.app.state.runtime.sessions() as session:
            self.seq = int(await session.scalar(select(func.max(AccessEvent.seq))) or 0)

    async def new(self) -> list[dict[str, Any]]:
        async with self.app.state.runtime.sessions() as session:
            rows = (
                await session.scalars(
                    select(AccessEvent).where(AccessEvent.seq > self.seq).order_by(AccessEvent.seq)
                )
            ).all()
        events = [{c.name: getattr(r, c.name) for c in AccessEvent.__table__.columns} for r in rows]
        if events:
            self.seq = int(events[-1]["seq"])
        return events


@pytest.fixture
async def tail(app: Any) -> EventTail:
    events = EventTail(app)
    await events.mark()
    return events


@dataclass
class Cast:
    """A principal of every role (the partner's bound to ``partner_id``)."""

    by_role: dict[str, Issued]
    partner_id: str

    def headers(self, role: str) -> dict[str, str]:
        return self.by_role[role].headers


async def create_partner(client: httpx.AsyncClient, admin: Issued, name: str) -> str:
    r = await client.post(
        "/v1/partners", json={"name": name, "contract_ref": "HD-MAU-2026"}, headers=admin.headers
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@pytest.fixture
async def cast(client: httpx.AsyncClient, admin: Issued, issue: TokenFactory) -> Cast:
    partner_id = await create_partner(client, admin, "Giao Hàng Mẫu")
    by_role = {"admin": admin}
    for role in ROLES:
        if role != "admin":
            pid = partner_id if role == "partner" else None
            by_role[role] = await issue(role, f"authz-{role}", pid)
    return Cast(by_role, partner_id)


async def register(client: httpx.AsyncClient, shop: Issued, **overrides: Any) -> str:
    r = await client.post("/v1/customers", json=customer_body(**overrides), headers=shop.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])
