"""Rebuilding the email indexes of rows written before matching ignored case: the
``pdvault migrate`` step. Colliding customers are named by id only and both rows are kept."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import insert, select

from pdvault.audit.models import AccessEvent
from pdvault.crypto.blind_index import blind_index
from pdvault.customers import sealing
from pdvault.customers.models import Customer
from pdvault.customers.reindex import EMAIL_REINDEX, rebuild_email_indexes
from pdvault.db import new_id, utcnow
from pdvault.upgrades import DataUpgrade, pending_upgrades
from tests.conftest import Issued
from tests.customers.test_email_case import create_with_email, find_email
from tests.helpers import assert_problem

SELF = "customer_self_service"
FIRST = "nhung@example.com"


async def _seed_old_style(app: Any, email: str, created_offset: int) -> uuid.UUID:
    """A customer as written before this change: its email index over the address as given."""
    keys = app.state.runtime.keys
    cid = new_id()
    values = {
        "full_name": "Nguyễn Thị Mẫu",
        "phone": "+84912000111",
        "email": email,
        "address": "Số 2 Đường Ví Dụ, Hà Nội",
    }
    row = await sealing.seal_new(keys, cid, values)
    row["email_bidx"] = blind_index(keys.index_key(), "email", email)
    now = utcnow()
    row.update(
        id=cid,
        created_at=now.replace(microsecond=0).replace(second=created_offset),
        updated_at=now,
        version=1,
        policy_version="2024-01",
        erased_at=None,
    )
    async with app.state.runtime.sessions() as session:
        await session.execute(insert(Customer), [row])
        await session.commit()
    return cid


async def test_rebuild_reports_collisions_by_id_and_keeps_both_rows(
    client: httpx.AsyncClient, shop: Issued, app: Any
) -> None:
    older = await _seed_old_style(app, "Nhung@example.com", 1)
    newer = await _seed_old_style(app, "nhung@example.com", 2)
    alone = await _seed_old_style(app, "Tuan.Mau@example.com", 3)
    async with app.state.runtime.sessions() as session:
        session.add(DataUpgrade(name=EMAIL_REINDEX, requested_at=utcnow()))
        await session.commit()
        assert await pending_upgrades(session) == [EMAIL_REINDEX]
    # Before the rebuild, an old-style mixed-case row is not found in another case.
    assert await find_email(client, shop, "tuan.mau@example.com") == []

    async with app.state.runtime.sessions() as session:
        report = await rebuild_email_indexes(
            session, app.state.runtime.keys, app.state.runtime.audit
        )
        await session.commit()
    assert report.reindexed == 3
    assert report.collisions == [(older, [newer])]
    text = report.lines()
    joined = "\n".join(text)
    assert str(older) in joined
    assert str(newer) in joined
    assert "nhung" not in joined.lower()
    assert "example" not in joined

    async with app.state.runtime.sessions() as session:
        assert await pending_upgrades(session) == []
        rows = {
            r.id: r
            for r in (
                await session.scalars(select(Customer).where(Customer.id.in_([older, newer])))
            )
        }
        events = (
            await session.scalars(select(AccessEvent).where(AccessEvent.action == EMAIL_REINDEX))
        ).all()
    assert set(rows) == {older, newer}  # both rows kept
    assert rows[older].email_bidx == sealing.index_of(app.state.runtime.keys, "email", FIRST)
    assert rows[newer].email_bidx is None  # out of the index until the operator resolves it
    assert {e.customer_id for e in events} >= {older, newer}

    assert [h["id"] for h in await find_email(client, shop, "NHUNG@example.com")] == [str(older)]
    assert [h["id"] for h in await find_email(client, shop, "tuan.mau@example.com")] == [str(alone)]
    r = await create_with_email(client, shop, "NHUNG@EXAMPLE.COM")
    assert assert_problem(r, 409, "duplicate_customer")["existing_id"] == str(older)

    # Running it again (nothing pending, or asked again) changes nothing and reports the same.
    async with app.state.runtime.sessions() as session:
        again = await rebuild_email_indexes(
            session, app.state.runtime.keys, app.state.runtime.audit
        )
        await session.commit()
    assert again.collisions == [(older, [newer])]
