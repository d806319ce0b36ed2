"""Key rotation: which versions wrap how many data keys, and moving them to the primary.

``rewrap`` works in batches, each committed on its own: it runs online beside the service,
and after a crash (even ``kill -9``) running it again simply carries on, because it only ever
looks for keys not yet under the primary version.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Integer,
    LargeBinary,
    Table,
    Uuid,
    bindparam,
    column,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pdvault.crypto.provider import KeyProvider, WrappedKey
from pdvault.db import READ_ONLY, writable
from pdvault.keys.holders import HOLDERS, KeyHolder

DEFAULT_BATCH = 2000


@dataclass(frozen=True)
class Usage:
    """Data keys per KEK version, per holder table."""

    by_version: dict[int, dict[str, int]]

    def total(self, version: int) -> int:
        return sum(self.by_version.get(version, {}).values())


async def key_usage(session: AsyncSession) -> Usage:
    found: dict[int, dict[str, int]] = {}
    for holder in HOLDERS:
        m = holder.model
        rows = await session.execute(
            select(m.kek_version, func.count())
            .where(m.kek_version.is_not(None))
            .group_by(m.kek_version)
        )
        for version, count in rows:
            found.setdefault(int(version), {})[holder.name] = int(count)
    return Usage(found)


async def pending_rewrap(session: AsyncSession, primary: int) -> int:
    """How many data keys are wrapped under a version other than the primary."""
    usage = await key_usage(session)
    return sum(usage.total(v) for v in usage.by_version if v != primary)


@dataclass(frozen=True)
class HeldKey:
    """One wrapped data key as read: its owner, and the version and blob it had then."""

    owner: UUID
    version: int
    blob: bytes


async def read_batch(
    session: AsyncSession,
    holder: KeyHolder,
    primary: int,
    batch: int,
    after: Any = None,
    *,
    lock: bool = False,
) -> list[HeldKey]:
    """Up to ``batch`` keys of ``holder`` not under ``primary``, by owner id after ``after``
    (keyset: each batch starts where the last one ended, instead of skipping every row already
    moved, which made a whole run quadratic).

    ``lock`` (PostgreSQL): FOR NO KEY UPDATE SKIP LOCKED, so two rewrap runs at once share the
    work instead of colliding. NO KEY UPDATE, as the key is not changed: a plain FOR UPDATE
    would also block the key-share locks taken by inserts referencing the row meanwhile.
    """
    m = holder.model
    query = (
        select(m.id, m.kek_version, m.wrapped_dek)
        .where(m.kek_version.is_not(None), m.kek_version != primary)
        .order_by(m.id)
        .limit(batch)
    )
    if after is not None:
        query = query.where(m.id > after)
    if lock:
        query = query.with_for_update(skip_locked=True, key_share=True)
    connection = await session.connection()  # Core rows: no ORM result machinery per row
    rows = (await connection.execute(query)).all()
    return [HeldKey(owner, int(version), bytes(blob)) for owner, version, blob in rows]


async def rewrapped(keys: KeyProvider, held: Sequence[HeldKey]) -> list[WrappedKey]:
    """The same data keys wrapped under the primary, in order: one batch call each way."""
    data_keys = await keys.unwrap_data_keys(
        [(WrappedKey(h.version, h.blob), h.owner) for h in held]
    )
    return await keys.wrap_data_keys(list(zip(data_keys, (h.owner for h in held), strict=True)))


def _move_postgresql(table: Table) -> Any:
    """One UPDATE for a whole batch, its rows given as five arrays (five parameters whatever
    the batch size), counting what it moved through RETURNING."""
    v = (
        func.unnest(
            bindparam("ids", type_=ARRAY(Uuid())),
            bindparam("old_versions", type_=ARRAY(Integer())),
            bindparam("old_blobs", type_=ARRAY(LargeBinary())),
            bindparam("new_versions", type_=ARRAY(Integer())),
            bindparam("new_blobs", type_=ARRAY(LargeBinary())),
        )
        .table_valued(
            column("id", Uuid()),
            column("old_version", Integer()),
            column("old_blob", LargeBinary()),
            column("new_version", Integer()),
            column("new_blob", LargeBinary()),
        )
        .render_derived(name="v")
    )
    return (
        update(table)
        .where(
            table.c.id == v.c.id,
            table.c.kek_version == v.c.old_version,
            table.c.wrapped_dek == v.c.old_blob,
        )
        .values(kek_version=v.c.new_version, wrapped_dek=v.c.new_blob)
        .returning(table.c.id)
    )


def _move_each(table: Table) -> Any:
    return (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            table.c.kek_version == bindparam("b_old"),
            table.c.wrapped_dek == bindparam("b_old_blob"),
        )
        .values(kek_version=bindparam("b_new"), wrapped_dek=bindparam("b_blob"))
    )


async def write_batch(
    session: AsyncSession, holder: KeyHolder, held: Sequence[HeldKey], fresh: Sequence[WrappedKey]
) -> int:
    """Store ``fresh`` over ``held``; returns how many rows moved, exactly.

    Guarded: a row is only written while it still has the version and blob that were read, so
    a key shredded, rewrapped or replaced meanwhile is left as it is (never resurrected)."""
    table = holder.model.__table__
    if not held:
        return 0
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        result = await session.execute(
            _move_postgresql(table),
            {
                "ids": [h.owner for h in held],
                "old_versions": [h.version for h in held],
                "old_blobs": [h.blob for h in held],
                "new_versions": [f.version for f in fresh],
                "new_blobs": [f.blob for f in fresh],
            },
        )
        return len(result.all())
    # SQLite: executemany of the guarded statement; sqlite3 sums each row's changes into the
    # rowcount, so the count is exact without a second query.
    connection = await session.connection()
    params = [
        {"b_id": h.owner, "b_old": h.version, "b_old_blob": h.blob}
        | {"b_new": f.version, "b_blob": f.blob}
        for h, f in zip(held, fresh, strict=True)
    ]
    result = await connection.execute(_move_each(table), params)
    return int(result.rowcount)


# A batch's commit does not wait for its WAL flush: a batch lost to a database crash within
# that moment is still under its old version, whose key is held until retired, and the next
# run finds it again (retire counts what the database holds after recovery). Readers never
# see an unflushed batch as anything but moved.
_NO_FLUSH_WAIT = text("SET LOCAL synchronous_commit = off")


@dataclass
class _Prepared:
    """A batch read and re-wrapped, waiting to be written (PostgreSQL: its rows still locked
    by ``session``'s open transaction)."""

    session: AsyncSession
    held: list[HeldKey]
    fresh: list[WrappedKey]


def _on_postgresql(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


async def _prepare(
    sessions: async_sessionmaker[AsyncSession],
    keys: KeyProvider,
    holder: KeyHolder,
    batch: int,
    after: Any,
) -> _Prepared | None:
    """Read one batch and re-wrap its keys; None when the holder has no more to move.

    PostgreSQL: the rows are locked as read, in a transaction left open for the write (plain
    reads never wait on those locks). SQLite: any write transaction holds the database's one
    write lock, which every request needs for its access event, so the batch is read in a read
    transaction (no write lock) and the crypto is done outside any transaction."""
    session = sessions()
    try:
        primary = keys.primary_version
        postgresql = _on_postgresql(session)
        if not postgresql:
            await session.connection(execution_options={READ_ONLY: True})
        held = await read_batch(session, holder, primary, batch, after, lock=postgresql)
        if not held or not postgresql:
            await session.rollback()  # SQLite: the read snapshot ends here
        if not held:
            await session.close()
            return None
        return _Prepared(session, held, await rewrapped(keys, held))
    except BaseException:
        await session.close()
        raise


async def _commit(prepared: _Prepared, holder: KeyHolder) -> int:
    """Write a prepared batch and commit; SQLite holds its write lock for this alone."""
    async with prepared.session as session:
        await writable(session)  # SQLite: BEGIN IMMEDIATE; PostgreSQL: the open transaction
        if _on_postgresql(session):
            await session.execute(_NO_FLUSH_WAIT)
        moved = await write_batch(session, holder, prepared.held, prepared.fresh)
        await session.commit()
    return moved


async def rewrap_batch(
    sessions: async_sessionmaker[AsyncSession],
    keys: KeyProvider,
    holder: KeyHolder,
    batch: int,
    after: Any = None,
) -> tuple[int, int, Any]:
    """(keys looked at, keys moved, the last owner id looked at) for one batch of one
    holder, committed."""
    prepared = await _prepare(sessions, keys, holder, batch, after)
    if prepared is None:
        return 0, 0, after
    return len(prepared.held), await _commit(prepared, holder), prepared.held[-1].owner


async def rewrap(
    sessions: async_sessionmaker[AsyncSession],
    keys: KeyProvider,
    *,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Re-wrap every data key under the primary version; returns how many moved.

    PostgreSQL: two batches are in flight. While batch n is written and committed (the
    server's work, on its own connection), batch n+1 is read and re-wrapped (this process's
    work), so the two overlap instead of adding up; needs two connections from ``sessions``.
    SQLite runs its statements in a thread of this process, so overlapping only makes the
    two contend (measured slower): one batch at a time there. Batch n+1 starts after batch
    n's last id, and each batch commits on its own, so a crash loses only uncommitted
    batches, which the next run finds again.
    """
    async with sessions() as session:
        overlap = _on_postgresql(session)
    total = 0
    for holder in HOLDERS:
        after: Any = None
        writing: asyncio.Task[int] | None = None
        seen = 0
        try:
            while True:
                prepared = await _prepare(sessions, keys, holder, batch, after)
                if writing is not None:
                    total += await writing
                    writing = None
                    if progress is not None:
                        progress(seen)
                if prepared is None:
                    break
                after, seen = prepared.held[-1].owner, len(prepared.held)
                writing = asyncio.create_task(_commit(prepared, holder))
                if not overlap:
                    await asyncio.wait([writing])
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writing
    return total
