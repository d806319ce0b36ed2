"""Fixtures for the governance tests: principals of each role, complaint and breach helpers."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from pdvault.governance.models import Breach, Complaint
from tests.conftest import Issued, TokenFactory, access_events

COMPLAINTS, BREACHES = "/v1/complaints", "/v1/breaches"

# Distinctive fake free text: never in a log, never shown to an auditor.
DESCRIPTION = "Zyxwq khiếu nại mẫu: email quảng cáo sau khi rút đồng ý"
CONTACT = "zyxwq.lienhe@example.com"
NOTE = "Zyxwq ghi chú điều tra mẫu"
MEASURES = "Zyxwq biện pháp mẫu: thu hồi quyền truy cập"


@pytest.fixture
async def dpo(issue: TokenFactory) -> Issued:
    return await issue("dpo", "gov-dpo")


@pytest.fixture
async def auditor(issue: TokenFactory) -> Issued:
    return await issue("auditor", "gov-auditor")


@pytest.fixture
async def shop(issue: TokenFactory) -> Issued:
    return await issue("storefront", "gov-storefront")


@pytest.fixture
async def staff(issue: TokenFactory) -> Issued:
    return await issue("employee", "gov-employee")


def complaint_body(customer_id: str | None = None, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "category": "misuse",
        "channel": "hotline",
        "description": DESCRIPTION,
        "contact": CONTACT,
    }
    if customer_id is not None:
        body["customer_id"] = customer_id
    body.update(over)
    return body


FileComplaint = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def file_complaint(client: httpx.AsyncClient, dpo: Issued) -> FileComplaint:
    async def _file(
        customer_id: str | None = None, who: Issued | None = None, **over: Any
    ) -> dict[str, Any]:
        r = await client.post(
            COMPLAINTS, json=complaint_body(customer_id, **over), headers=(who or dpo).headers
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    return _file


async def move(
    client: httpx.AsyncClient, who: Issued, complaint_id: str, to: str, **extra: Any
) -> httpx.Response:
    body = {"to": to, "note": NOTE, **extra}
    return await client.post(
        f"{COMPLAINTS}/{complaint_id}/transitions", json=body, headers=who.headers
    )


async def moved(
    client: httpx.AsyncClient, who: Issued, complaint_id: str, *path: str
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for to in path:
        r = await move(client, who, complaint_id, to)
        assert r.status_code == 200, r.text
        body = r.json()
    return body


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


async def set_complaint(app: Any, complaint_id: str, **values: Any) -> None:
    """Move a complaint's times directly (the API never back-dates)."""
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(Complaint).where(Complaint.id == uuid.UUID(complaint_id)).values(**values)
        )
        await session.commit()


async def set_breach(app: Any, breach_id: str, **values: Any) -> None:
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(Breach).where(Breach.id == uuid.UUID(breach_id)).values(**values)
        )
        await session.commit()


async def governance_events(app: Any, prefix: str, **where: Any) -> list[dict[str, Any]]:
    return [e for e in await access_events(app, **where) if e["action"].startswith(prefix)]
