"""Key rotation: which versions wrap how many data keys, and moving them to the primary.

``rewrap`` works in small batches, each its own transaction: it runs online beside the
service, and after a crash (even ``kill -9``) running it again simply carries on, because it
only ever looks for keys not yet under the primary version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pdvault.crypto.provider import KeyProvider, WrappedKey
from pdvault.keys.holders import HOLDERS, KeyHolder


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


async def _rewrap_batch(
    session: AsyncSession, keys: KeyProvider, holder: KeyHolder, batch: int, after: Any = None
) -> tuple[int, int, Any]:
    """(keys looked at, keys moved, the last owner id looked at) in one batch of one holder,
    walking owners by id from ``after`` (keyset: each batch starts where the last one ended,
    instead of skipping every row already moved, which made a whole run quadratic).

    One UPDATE executed for the whole batch (executemany) rather than one statement and round
    trip per key: that round trip was nearly all of rewrap's time. The rows stay guarded: each
    update only matches the version it read, so a key shredded meanwhile is not resurrected.
    """
    m = holder.model
    primary = keys.primary_version
    query = (
        select(m.id, m.kek_version, m.wrapped_dek)
        .where(m.kek_version.is_not(None), m.kek_version != primary)
        .order_by(m.id)
        .limit(batch)
    )
    if after is not None:
        query = query.where(m.id > after)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        # Two rewrap runs at once share the work instead of colliding. NO KEY UPDATE, as the
        # key is not changed: a plain FOR UPDATE would also block the key-share locks taken by
        # inserts referencing the customer (a consent, an assignment, a document) meanwhile.
        query = query.with_for_update(skip_locked=True, key_share=True)
    rows = (await session.execute(query)).all()
    if not rows:
        return 0, 0, after
    params: list[dict[str, Any]] = []
    for owner, version, blob in rows:
        data_key = await keys.unwrap_data_key(WrappedKey(int(version), bytes(blob)), owner)
        fresh = await keys.wrap_data_key(data_key, owner)
        params.append(
            {"b_id": owner, "b_old": version, "b_new": fresh.version, "b_blob": fresh.blob}
        )
    table = m.__table__
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.kek_version == bindparam("b_old"))
        .values(kek_version=bindparam("b_new"), wrapped_dek=bindparam("b_blob"))
    )
    connection = await session.connection()
    await connection.execute(statement, params)
    # executemany reports no reliable rowcount on every driver: count what now carries a new
    # version, inside the same transaction (the rows are locked, or SQLite's write lock held).
    owners = [p["b_id"] for p in params]
    moved = await session.scalar(
        select(func.count())
        .select_from(table)
        .where(table.c.id.in_(owners), table.c.kek_version.in_({p["b_new"] for p in params}))
    )
    return len(rows), int(moved or 0), rows[-1][0]


async def rewrap(
    sessions: async_sessionmaker[AsyncSession],
    keys: KeyProvider,
    *,
    batch: int = 500,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Re-wrap every data key under the primary version; returns how many moved."""
    total = 0
    for holder in HOLDERS:
        after = None
        while True:
            async with sessions() as session:
                seen, moved, after = await _rewrap_batch(session, keys, holder, batch, after)
                await session.commit()
            if not seen:
                break
            total += moved
            if progress is not None:
                progress(seen)
    return total
