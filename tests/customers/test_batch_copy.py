"""A batch large enough to go in by COPY (PostgreSQL; SQLite: an executemany) whose email a
concurrent request registered after the batch looked: the unique index refuses the whole
insert, the batch looks again, and only that item becomes a 409 (db.insert_many raises the
driver's unique violation as the IntegrityError an INSERT would)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pdvault.customers.registration import CustomerRegistration
from pdvault.db import COPY_FROM_ROWS
from tests.conftest import Issued, customer_body
from tests.customers.conftest import count_customers


async def test_email_registered_meanwhile_fails_only_its_item(
    client: httpx.AsyncClient,
    shop: Issued,
    staff: Issued,
    app: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    taken_email = "da.dang.ky@example.com"
    r = await client.post(
        "/v1/customers", json=customer_body(email=taken_email), headers=shop.headers
    )
    assert r.status_code == 201, r.text
    taken = r.json()["id"]

    looked = 0
    real = CustomerRegistration._existing_emails

    async def stale_first_look(self: CustomerRegistration, indexes: list[bytes]) -> Any:
        nonlocal looked
        looked += 1
        return {} if looked == 1 else await real(self, indexes)  # the first look predates it

    monkeypatch.setattr(CustomerRegistration, "_existing_emails", stale_first_look)
    items = [customer_body() for _ in range(COPY_FROM_ROWS + 8)]
    items[5] = customer_body(email=taken_email)
    before = await count_customers(app)
    r = await client.post("/v1/customers/batch", json={"items": items}, headers=staff.headers)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert looked == 2  # refused once by the unique index, then looked again
    assert [x["status"] for x in results] == [409 if i == 5 else 201 for i in range(len(items))]
    assert results[5]["problem"]["existing_id"] == taken
    assert await count_customers(app) == before + len(items) - 1
