"""One rewrap batch as stored: the guarded UPDATE (one statement per batch on PostgreSQL, an
executemany on SQLite) moves only rows still as they were read and counts exactly what it
moved; a partial run is carried on by the next; two runs at once move each key once. Real
database, real keyring, on each engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pdvault.config import Settings
from pdvault.crypto.envelope import new_data_key
from pdvault.crypto.keyring import Keyring
from pdvault.crypto.provider import LocalKeyProvider, WrappedKey
from pdvault.customers.models import Customer
from pdvault.db import make_engine, make_sessionmaker, writable
from pdvault.keys import ops
from pdvault.keys.holders import HOLDERS
from pdvault.keys.rotation import read_batch, rewrap, rewrap_batch, rewrapped, write_batch
from tests.helpers import fake_clock
from tests.keys.conftest import Shop, usage

CUSTOMERS = HOLDERS[0]


@pytest.fixture
async def sessions(keyed_settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(keyed_settings.effective_database_url, pool_size=2)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def stored(sessions: async_sessionmaker[AsyncSession]) -> dict[UUID, tuple[Any, Any]]:
    async with sessions() as session:
        query = select(Customer.id, Customer.kek_version, Customer.wrapped_dek)
        rows = (await session.execute(query)).all()
        await session.rollback()
    return {owner: (v, None if blob is None else bytes(blob)) for owner, v, blob in rows}


async def test_a_row_changed_between_read_and_write_is_left_as_it_is(
    shop: Shop,
    keyed_settings: Settings,
    keyring: Keyring,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await shop.create(40)
    await ops.rotate(keyed_settings)
    keys = LocalKeyProvider.from_file(keyed_settings.keyring_path)
    async with sessions() as session:
        held = await read_batch(session, CUSTOMERS, keys.primary_version, 100)
        await session.rollback()
    assert len(held) == 40
    assert {h.version for h in held} == {1}
    fresh = await rewrapped(keys, held)
    assert {f.version for f in fresh} == {2}

    # Between the read and the write: one key shredded, one moved by another run, and one
    # replaced by a new data key under the same old version.
    shredded, elsewhere, replaced = (h.owner for h in held[:3])
    (moved_by_other,) = await rewrapped(keys, [held[1]])
    replacement = await LocalKeyProvider(keyring).wrap_data_key(new_data_key(), replaced)
    assert replacement.version == 1
    changes: dict[UUID, dict[str, Any]] = {
        shredded: {"kek_version": None, "wrapped_dek": None},
        elsewhere: {"kek_version": moved_by_other.version, "wrapped_dek": moved_by_other.blob},
        replaced: {"wrapped_dek": replacement.blob},
    }
    async with sessions() as session:
        for owner, values in changes.items():
            await session.execute(update(Customer).where(Customer.id == owner).values(**values))
        await session.commit()

    async with sessions() as session:
        await writable(session)
        assert await write_batch(session, CUSTOMERS, held, fresh) == 37
        await session.commit()
    rows = await stored(sessions)
    assert rows[shredded] == (None, None)
    assert rows[elsewhere] == (2, moved_by_other.blob)
    assert rows[replaced] == (1, replacement.blob)
    for h, f in zip(held[3:], fresh[3:], strict=True):
        assert rows[h.owner] == (2, f.blob)
    # The moved keys open to the very data keys they held before.
    before = await keys.unwrap_data_keys([(WrappedKey(h.version, h.blob), h.owner) for h in held])
    after = await keys.unwrap_data_keys([(f, h.owner) for h, f in zip(held, fresh, strict=True)])
    assert after[3:] == before[3:]

    # The same batch again moves nothing: every row has changed since it was read.
    async with sessions() as session:
        await writable(session)
        assert await write_batch(session, CUSTOMERS, held, fresh) == 0
        await session.commit()
    assert await stored(sessions) == rows


async def test_a_partial_run_is_carried_on_by_the_next(
    shop: Shop,
    keyed_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = fake_clock(monkeypatch, shop.app.state.runtime.keys)
    ids = await shop.create(50)
    await ops.rotate(keyed_settings)
    keys = LocalKeyProvider.from_file(keyed_settings.keyring_path)
    after = None
    done = 0
    for _ in range(3):
        seen, moved, after = await rewrap_batch(sessions, keys, CUSTOMERS, 7, after)
        assert (seen, moved) == (7, 7)
        done += moved
    # A batch read and re-wrapped but never written (the process died there) leaves no trace.
    async with sessions() as session:
        lost = await read_batch(session, CUSTOMERS, keys.primary_version, 7, after, lock=True)
        await rewrapped(keys, lost)
        await session.rollback()
    assert await usage(keyed_settings) == {1: 29, 2: 21}
    assert await rewrap(sessions, keys, batch=4) == 29
    assert await usage(keyed_settings) == {2: 50}
    assert await rewrap(sessions, keys, batch=4) == 0
    clock.advance(LocalKeyProvider.RELOAD_SECONDS)  # the app re-reads the rotated keyring
    for cid in ids:
        assert (await shop.read(cid)).status_code == 200


async def test_two_runs_at_once_move_each_key_once(
    shop: Shop, keyed_settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await shop.create(300)
    await ops.rotate(keyed_settings)
    engine = make_engine(keyed_settings.effective_database_url, pool_size=2)
    try:
        first = LocalKeyProvider.from_file(keyed_settings.keyring_path)
        second = LocalKeyProvider.from_file(keyed_settings.keyring_path)
        moved = await asyncio.gather(
            rewrap(sessions, first, batch=9), rewrap(make_sessionmaker(engine), second, batch=9)
        )
    finally:
        await engine.dispose()
    assert sum(moved) == 300
    assert await usage(keyed_settings) == {2: 300}
