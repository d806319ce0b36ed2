"""Fixtures shared by the data-subject rights tests (subjects, erasure, notifications).

Each of those folders' conftest imports them: principals of every role that takes part, a
customer with distinctive values, and helpers to file and decide deletion requests.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from pdvault.erasure.models import DeletionRequest
from tests.conftest import Issued, TokenFactory, customer_body

DELETIONS = "/v1/deletion-requests"


@pytest.fixture
async def shop(issue: TokenFactory) -> Issued:
    return await issue("storefront", "rights-storefront")


@pytest.fixture
async def staff(issue: TokenFactory) -> Issued:
    return await issue("employee", "rights-employee")


@pytest.fixture
async def dpo(issue: TokenFactory) -> Issued:
    return await issue("dpo", "rights-dpo")


@pytest.fixture
async def auditor(issue: TokenFactory) -> Issued:
    return await issue("auditor", "rights-auditor")


@pytest.fixture
async def legal(issue: TokenFactory) -> Issued:
    return await issue("legal", "rights-legal")


@dataclass
class Subject:
    id: str
    body: dict[str, Any]

    @property
    def values(self) -> list[str]:
        """Distinctive personal values, as sent and as stored (E.164 phone, local part)."""
        phone_digits = "".join(ch for ch in self.body["phone"] if ch.isdigit())
        return [
            self.body["full_name"],
            self.body["email"],
            self.body["email"].split("@")[0],
            self.body["address"],
            "+84" + phone_digits[1:],
        ]


SubjectFactory = Callable[..., Awaitable[Subject]]


@pytest.fixture
def subject(client: httpx.AsyncClient, shop: Issued) -> SubjectFactory:
    """A customer with values found nowhere else (so a scan for them means something)."""

    async def _make(**overrides: Any) -> Subject:
        tag = uuid.uuid4().hex[:10]
        body = customer_body(
            full_name=f"Lê Thị Riêng {tag[:4].upper()}",
            email=f"rieng.{tag}@example.com",
            phone=f"091{int(tag[:8], 16) % 10_000_000:07d}",
            address=f"Ngõ Riêng {tag}, Phường Mẫu, Hà Nội",
            **overrides,
        )
        r = await client.post("/v1/customers", json=body, headers=shop.headers)
        assert r.status_code == 201, r.text
        return Subject(str(r.json()["id"]), body)

    return _make


async def file_deletion(
    client: httpx.AsyncClient, who: Issued, customer_id: str, **extra: Any
) -> dict[str, Any]:
    body = {"customer_id": customer_id, "channel": "storefront", **extra}
    r = await client.post(DELETIONS, json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def approve_deletion(
    client: httpx.AsyncClient, dpo: Issued, request_id: str
) -> httpx.Response:
    return await client.post(f"{DELETIONS}/{request_id}/approve", headers=dpo.headers)


async def make_overdue(app: Any, request_id: str) -> None:
    """Move a request's due time into the past directly (the API never back-dates)."""
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(DeletionRequest)
            .where(DeletionRequest.id == uuid.UUID(request_id))
            .values(due_at=datetime.now(UTC) - timedelta(hours=1))
        )
        await session.commit()
