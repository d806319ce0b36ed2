"""Migration 0013 on a database already in use: principals sharing a name are renamed (the
oldest keeps it) so the name can be unique, and customers with email indexes get the data
upgrade that ``pdvault migrate`` runs with the keys. On each engine."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from pdvault.customers.models import Customer
from pdvault.customers.reindex import EMAIL_REINDEX
from pdvault.db import make_engine, new_id
from pdvault.migrate import downgrade, upgrade
from pdvault.principals.models import Principal
from pdvault.upgrades import DataUpgrade
from tests.platform.test_migrations import fresh_url  # noqa: F401 - a fixture

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def _run(url: str, statement: object, rows: list[dict[str, object]] | None = None) -> None:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(statement, rows)  # type: ignore[arg-type]
    finally:
        await engine.dispose()


async def _all(url: str, statement: object) -> list[tuple[object, ...]]:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(statement)).all()]  # type: ignore[call-overload]
    finally:
        await engine.dispose()


def _principal(name: str, minutes: int) -> dict[str, object]:
    return {
        "id": new_id(),
        "name": name,
        "role": "storefront",
        "created_at": T0 + timedelta(minutes=minutes),
    }


async def test_duplicate_names_renamed_and_reindex_requested(
    fresh_url: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    await asyncio.to_thread(upgrade, fresh_url, "0008")
    oldest, later, last = _principal("shop", 0), _principal("shop", 5), _principal("shop", 9)
    other = _principal("x" * 200, 1)
    other_twin = _principal("x" * 200, 2)
    await _run(fresh_url, insert(Principal.__table__), [later, oldest, last, other, other_twin])
    await _run(
        fresh_url,
        insert(Customer.__table__),
        [
            {
                "id": new_id(),
                "created_at": T0,
                "updated_at": T0,
                "version": 1,
                "policy_version": "2024-01",
                "email_bidx": b"\x01" * 32,
            }
        ],
    )
    with caplog.at_level(logging.WARNING):
        await asyncio.to_thread(upgrade, fresh_url)

    names = dict(await _all(fresh_url, select(Principal.id, Principal.name)))
    assert names[oldest["id"]] == "shop"
    assert names[later["id"]] == f"shop ({later['id']})"
    assert names[last["id"]] == f"shop ({last['id']})"
    assert names[other["id"]] == "x" * 200
    assert len(names[other_twin["id"]]) == 200
    assert names[other_twin["id"]].endswith(f" ({other_twin['id']})")
    warned = " ".join(r.getMessage() for r in caplog.records)
    for pid in (later["id"], last["id"], other_twin["id"]):
        assert str(pid) in warned
    assert str(oldest["id"]) not in warned

    pending = await _all(fresh_url, select(DataUpgrade.name, DataUpgrade.done_at))
    assert pending == [(EMAIL_REINDEX, None)]

    # The name is unique from now on, in the database itself.
    with pytest.raises(IntegrityError):
        await _run(fresh_url, insert(Principal.__table__), [_principal("shop", 20)])

    await asyncio.to_thread(downgrade, fresh_url, "0008")
    await asyncio.to_thread(upgrade, fresh_url)


async def test_an_empty_database_has_nothing_to_reindex(fresh_url: str) -> None:  # noqa: F811
    await asyncio.to_thread(upgrade, fresh_url)
    assert await _all(fresh_url, select(DataUpgrade.name)) == []
