"""Helpers for the partner tests: partners, grants and assignments made through the API."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from pdvault.customers.models import Customer
from tests.conftest import Issued

ALL_FIELDS = ("full_name", "phone", "email", "address")
ALL_PLAIN = dict.fromkeys(ALL_FIELDS, "plain")


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def create_partner(
    client: httpx.AsyncClient, admin: Issued, name: str | None = None
) -> dict[str, Any]:
    body = {
        "name": name or f"Giao Hàng Mẫu {secrets.token_hex(3)}",
        "contract_ref": f"HD-MAU-{secrets.token_hex(2)}",
    }
    r = await client.post("/v1/partners", json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def grant_body(**overrides: Any) -> dict[str, Any]:
    """A grant valid from an hour ago for thirty days, every field plain unless overridden."""
    body: dict[str, Any] = {
        "contract_ref": "HD-MAU-001",
        "purposes": ["order_fulfillment"],
        "fields": dict(ALL_PLAIN),
        "valid_from": iso(now() - timedelta(hours=1)),
        "valid_until": iso(now() + timedelta(days=30)),
    }
    body.update(overrides)
    return body


async def create_grant(
    client: httpx.AsyncClient, admin: Issued, partner_id: str, **overrides: Any
) -> dict[str, Any]:
    r = await client.post(
        f"/v1/partners/{partner_id}/grants", json=grant_body(**overrides), headers=admin.headers
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def assignment_body(customer_id: str, /, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": customer_id,
        "purpose": "order_fulfillment",
        "reference": f"DH-{secrets.randbelow(10**6):06d}",
        "expires_at": iso(now() + timedelta(days=7)),
    }
    body.update(overrides)
    return body


async def assign(
    client: httpx.AsyncClient, by: Issued, partner_id: str, customer_id: str, **overrides: Any
) -> dict[str, Any]:
    r = await client.post(
        f"/v1/partners/{partner_id}/assignments",
        json=assignment_body(customer_id, **overrides),
        headers=by.headers,
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def mark_erased(app: Any, customer_id: str) -> None:
    """Stand-in for an executed deletion: the tombstone flag (no erasure endpoint yet)."""
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(Customer)
            .where(Customer.id == uuid.UUID(customer_id))
            .values(erased_at=now() - timedelta(minutes=1))
        )
        await session.commit()
