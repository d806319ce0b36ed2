"""Fixtures and helpers for the judicial-request tests: principals, customers, requests."""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from pdvault.customers.models import Customer
from pdvault.judicial.models import JudicialRequest
from tests.conftest import Issued, TokenFactory, access_events, customer_body

BASE = "/v1/judicial-requests"


@dataclass
class Person:
    """A customer as created: its id, the values sent, and the values the vault should hold."""

    id: str
    sent: dict[str, str]
    stored: dict[str, str]

    @property
    def values(self) -> list[str]:
        """Every personal value, as sent and as stored, plus distinctive fragments."""
        local = self.stored["email"].split("@")[0]
        return [*self.sent.values(), *self.stored.values(), self.stored["phone"][3:], local]


PersonFactory = Callable[..., Awaitable[Person]]

_phones = [0]


def _next_phone() -> tuple[str, str]:
    """A fake Vietnamese mobile number typed with spaces, and its E.164 form."""
    _phones[0] += 1
    digits = f"{912_000_000 + _phones[0] % 1_000_000:09d}"
    return f"0{digits[:3]} {digits[3:6]} {digits[6:]}", f"+84{digits}"


@pytest.fixture
async def shop(issue: TokenFactory) -> Issued:
    return await issue("storefront", "judicial-test-storefront")


@pytest.fixture
async def legal(issue: TokenFactory) -> Issued:
    return await issue("legal", "legal-officer")


@pytest.fixture
async def dpo_a(issue: TokenFactory) -> Issued:
    return await issue("dpo", "dpo-a")


@pytest.fixture
async def dpo_b(issue: TokenFactory) -> Issued:
    return await issue("dpo", "dpo-b")


@pytest.fixture
async def auditor(issue: TokenFactory) -> Issued:
    return await issue("auditor", "test-auditor")


@pytest.fixture
async def staff(issue: TokenFactory) -> Issued:
    return await issue("employee", "test-employee")


@pytest.fixture
def person(client: httpx.AsyncClient, shop: Issued) -> PersonFactory:
    """Create a customer through the storefront; remember what was sent and what to expect."""

    async def _make(name: str = "Trần Thị Mẫu") -> Person:
        typed, e164 = _next_phone()
        tag = uuid.uuid4().hex[:8]
        sent = {
            "full_name": unicodedata.normalize("NFD", name),
            "phone": typed,
            "email": f"tran.mau.{tag}@EXAMPLE.com",
            "address": f"Số {_phones[0]} Đường Giả Định, Phường Mẫu, Hà Nội",
        }
        r = await client.post("/v1/customers", json=customer_body(**sent), headers=shop.headers)
        assert r.status_code == 201, r.text
        stored = {
            "full_name": unicodedata.normalize("NFC", name),
            "phone": e164,
            "email": f"tran.mau.{tag}@example.com",
            "address": sent["address"],
        }
        return Person(str(r.json()["id"]), sent, stored)

    return _make


def future(days: float = 30) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def request_body(customer_ids: Iterable[str], **overrides: Any) -> dict[str, Any]:
    """A valid judicial request naming these customers (full_name and phone by default)."""
    body: dict[str, Any] = {
        "authority_type": "police_investigation",
        "authority_name": "Cơ quan Cảnh sát điều tra Mẫu",
        "document_number": "45/QĐ-CSĐT-MAU",
        "document_date": "2026-11-02",
        "legal_basis": "Điều mẫu, Bộ luật Tố tụng hình sự (ví dụ)",
        "case_reference": "VA-MAU-0045",
        "customer_ids": [str(c) for c in customer_ids],
        "fields": ["full_name", "phone"],
        "valid_until": iso(future()),
    }
    body.update(overrides)
    return body


FileFactory = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def file_request(client: httpx.AsyncClient) -> FileFactory:
    """File a request as ``filer``; the 201 body."""

    async def _file(filer: Issued, customer_ids: Iterable[str], **overrides: Any) -> dict[str, Any]:
        r = await client.post(
            BASE, json=request_body(customer_ids, **overrides), headers=filer.headers
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    return _file


async def decide(
    client: httpx.AsyncClient, who: Issued, request_id: str, approve: bool = True
) -> httpx.Response:
    if approve:
        return await client.post(f"{BASE}/{request_id}/approve", headers=who.headers)
    return await client.post(
        f"{BASE}/{request_id}/reject", json={"reason": "Thiếu chữ ký (mẫu)"}, headers=who.headers
    )


async def approved(client: httpx.AsyncClient, who: Issued, request_id: str) -> dict[str, Any]:
    r = await decide(client, who, request_id)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    body: dict[str, Any] = r.json()
    return body


async def set_valid_until(app: Any, request_id: str, moment: datetime) -> None:
    """Move a request's expiry directly in the database (the API never lets it be past)."""
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(JudicialRequest)
            .where(JudicialRequest.id == uuid.UUID(request_id))
            .values(valid_until=moment)
        )
        await session.commit()


async def expire(app: Any, request_id: str) -> None:
    await set_valid_until(app, request_id, datetime.now(UTC) - timedelta(hours=1))


async def mark_erased(app: Any, customer_id: str) -> None:
    """A tombstone as erasure leaves it (the deletion workflow is tested elsewhere)."""
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(Customer)
            .where(Customer.id == uuid.UUID(customer_id))
            .values(
                erased_at=datetime.now(UTC),
                wrapped_dek=None,
                full_name_ct=None,
                phone_ct=None,
                email_ct=None,
                address_ct=None,
                email_bidx=None,
                phone_bidx=None,
            )
        )
        await session.commit()


def error_locs(body: dict[str, Any]) -> list[list[str]]:
    return [[str(p) for p in e["loc"]] for e in body.get("errors", [])]


def assert_no_values(r: httpx.Response, people: Iterable[Person]) -> None:
    """Neither the raw body nor its decoded JSON holds any personal value of these people."""
    texts = [r.text, json.dumps(r.json(), ensure_ascii=False)]
    for p in people:
        for value in p.values:
            for text in texts:
                assert value not in text, f"a personal value leaked: {value!r}"


async def judicial_events(app: Any, **where: Any) -> list[dict[str, Any]]:
    """Access events of the judicial endpoints only."""
    return [e for e in await access_events(app, **where) if e["action"].startswith("judicial.")]
