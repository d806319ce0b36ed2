"""Tampering with the customer rows in the database (issue 14.14): a blind index moved to
another row, and a field's old ciphertext put back after an update. Each case writes to the
database directly and must be caught, never answered with the wrong customer or a stale value.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from pdvault.crypto.envelope import encrypt_field
from pdvault.customers import sealing
from pdvault.customers.models import Customer
from tests.conftest import Issued, customer_body
from tests.customers.conftest import customer_events
from tests.helpers import assert_problem

SELF = {"purpose": "customer_self_service"}
FIELDS = ("full_name", "phone", "email", "address")
COLUMNS = {f: sealing.CIPHERTEXT_COLUMN[f] for f in FIELDS}


async def _create(client: httpx.AsyncClient, shop: Issued, **overrides: Any) -> tuple[str, dict]:
    body = customer_body(**overrides)
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"]), body


async def _row(app: Any, cid: str) -> Customer:
    async with app.state.runtime.sessions() as session:
        row = await session.get(Customer, uuid.UUID(cid))
        assert row is not None
        return row


async def _set(app: Any, cid: str, **values: Any) -> None:
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(Customer).where(Customer.id == uuid.UUID(cid)).values(**values)
        )
        await session.commit()


def _integrity_failures(app: Any, kind: str) -> float:
    value = app.state.runtime.metrics.registry.get_sample_value(
        "pdvault_integrity_failures_total", {"kind": kind}
    )
    return float(value or 0.0)


# -- a blind index moved to another row ------------------------------------------------------


@pytest.mark.parametrize("key", ["email", "phone"])
async def test_a_swapped_blind_index_never_answers_with_the_other_customer(
    app: Any,
    client: httpx.AsyncClient,
    shop: Issued,
    staff: Issued,
    key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, first_body = await _create(client, shop, phone="0961 111 111")
    second, second_body = await _create(client, shop, phone="0962 222 222")
    column = sealing.INDEXED_FIELDS[key]
    a, b = getattr(await _row(app, first), column), getattr(await _row(app, second), column)
    # Three steps: the email index is unique, and PostgreSQL checks it row by row.
    await _set(app, first, **{column: b"\x00" * 32})
    await _set(app, second, **{column: a})
    await _set(app, first, **{column: b})

    caplog.set_level(logging.WARNING, logger="pdvault")
    for body in (first_body, second_body):
        r = await client.post(
            "/v1/customers/search",
            json={key: body[key], "purpose": "order_confirmation"},
            headers=staff.headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["items"] == []  # not found: never the other customer
        for value in (first_body, second_body):
            for field in FIELDS:
                assert value[field] not in r.text
    assert _integrity_failures(app, "blind_index") == 2
    warnings = [rec for rec in caplog.records if "blind index" in rec.getMessage()]
    assert len(warnings) == 2
    for record in warnings:
        text = record.getMessage()
        for value in (first_body, second_body):
            assert value["email"] not in text
            assert value["phone"] not in text
    events = await customer_events(app, action="customer.search")
    assert [(e["outcome"], e["basis"], e["customer_id"]) for e in events] == [
        ("allowed", "no_match", None),
        ("allowed", "no_match", None),
    ]


async def test_an_update_beside_a_moved_index_leaves_the_indexes_alone(
    app: Any, client: httpx.AsyncClient, shop: Issued
) -> None:
    """An update re-seals every field but re-computes only the changed fields' indexes: a
    moved (unique) email index elsewhere is no reason for it to fail."""
    first, _ = await _create(client, shop)
    second, _ = await _create(client, shop)
    a, b = (await _row(app, first)).email_bidx, (await _row(app, second)).email_bidx
    await _set(app, first, email_bidx=b"\x00" * 32)
    await _set(app, second, email_bidx=a)
    await _set(app, first, email_bidx=b)
    headers = {**shop.headers, "If-Match": '"1"'}
    r = await client.patch(
        f"/v1/customers/{first}",
        json={"address": "Số 5 Ngõ Mẫu, Hà Nội"},
        params=SELF,
        headers=headers,
    )
    assert r.status_code == 200, r.text
    assert (await _row(app, first)).email_bidx == b


async def test_an_untouched_blind_index_still_finds_its_customer(
    app: Any, client: httpx.AsyncClient, shop: Issued, staff: Issued
) -> None:
    cid, body = await _create(client, shop)
    r = await client.post(
        "/v1/customers/search",
        json={"email": body["email"], "purpose": "order_confirmation"},
        headers=staff.headers,
    )
    assert [i["id"] for i in r.json()["items"]] == [cid]
    assert _integrity_failures(app, "blind_index") == 0


# -- an old ciphertext put back ----------------------------------------------------------------


async def _read(client: httpx.AsyncClient, shop: Issued, cid: str) -> httpx.Response:
    return await client.get(f"/v1/customers/{cid}", params=SELF, headers=shop.headers)


async def _patch(
    client: httpx.AsyncClient, shop: Issued, cid: str, body: dict[str, str], etag: str
) -> httpx.Response:
    headers = {**shop.headers, "If-Match": etag}
    return await client.patch(f"/v1/customers/{cid}", json=body, params=SELF, headers=headers)


@pytest.mark.parametrize("field", FIELDS)
async def test_an_old_ciphertext_put_back_is_never_served_under_the_new_etag(
    app: Any, client: httpx.AsyncClient, shop: Issued, field: str
) -> None:
    """Every field is sealed with the record version in its associated data, and an update
    re-seals all four: a ciphertext of version 1 does not open in version 2, whichever field
    it is (the one changed or another)."""
    cid, _ = await _create(client, shop)
    before = await _read(client, shop, cid)
    old = getattr(await _row(app, cid), COLUMNS[field])
    r = await _patch(client, shop, cid, {"address": "Số 99 Đường Đã Sửa, Cần Thơ"}, '"1"')
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"'
    await _set(app, cid, **{COLUMNS[field]: old})
    r = await _read(client, shop, cid)
    assert_problem(r, 503)
    assert before.json()["fields"][field] not in r.text
    events = await customer_events(app, action="customer.read")
    assert (events[-1]["outcome"], events[-1]["reason"]) == ("denied", "integrity_failure")


async def test_a_row_of_the_first_format_opens_and_an_update_reseals_every_field(
    app: Any, client: httpx.AsyncClient, shop: Issued
) -> None:
    """Rows sealed before the record version was bound (format 1) still open; their first
    update re-seals all four fields in format 2, and a format-1 ciphertext put back into
    such a row is refused (a row's fields share one format)."""
    cid, body = await _create(client, shop)
    row = await _row(app, cid)
    data_key = await sealing.data_key_of(app.state.runtime.keys, row)
    legacy = {COLUMNS[f]: encrypt_field(data_key, row.id, f, str(_stored(body, f))) for f in FIELDS}
    await _set(app, cid, **legacy)
    r = await _read(client, shop, cid)
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["full_name"] == body["full_name"]

    r = await _patch(client, shop, cid, {"full_name": "Lê Thị Đã Sửa"}, '"1"')
    assert r.status_code == 200, r.text
    row = await _row(app, cid)
    assert {getattr(row, COLUMNS[f])[0] for f in FIELDS} == {2}
    assert r.json()["fields"]["email"] == body["email"]

    await _set(app, cid, address_ct=legacy["address_ct"])
    assert_problem(await _read(client, shop, cid), 503)


def _stored(body: dict[str, Any], field: str) -> str:
    """The canonical form the API stores (the phone in E.164)."""
    if field == "phone":
        from pdvault.customers import normalize

        return normalize.phone(body["phone"])
    return str(body[field])


async def test_nothing_else_reads_a_stale_field(
    app: Any, client: httpx.AsyncClient, shop: Issued, staff: Issued
) -> None:
    """Search opens through the same check as a read: a stale ciphertext is 503 there too."""
    cid, body = await _create(client, shop)
    old = (await _row(app, cid)).full_name_ct
    assert (await _patch(client, shop, cid, {"full_name": "Lê Văn Mới"}, '"1"')).status_code == 200
    await _set(app, cid, full_name_ct=old)
    r = await client.post(
        "/v1/customers/search",
        json={"email": body["email"], "purpose": "order_confirmation"},
        headers=staff.headers,
    )
    assert_problem(r, 503)
    assert "Nguyễn" not in r.text
    async with app.state.runtime.sessions() as session:
        assert (
            await session.scalar(select(Customer.version).where(Customer.id == uuid.UUID(cid))) == 2
        )
