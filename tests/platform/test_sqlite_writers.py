"""SQLite write transactions queue in one process (``db.SqliteWriteQueue``): they get the write
lock in the order they asked for it, a read-only snapshot never waits behind them, and a
transaction that ends any way (commit, rollback, a connection closed mid-way) hands the turn
on. Against a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdvault.db import READ_ONLY, make_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.sqlite3'}")
    async with eng.begin() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER NOT NULL)"))
    yield eng
    await eng.dispose()


async def test_writers_get_the_lock_in_the_order_they_asked(engine: AsyncEngine) -> None:
    order: list[int] = []
    first_holds = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (0)"))
            order.append(0)
            first_holds.set()
            await release_first.wait()

    async def writer(n: int) -> None:
        async with engine.begin() as conn:
            order.append(n)
            await conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})

    # Nine pooled connections already open, so asking for the lock is the only wait.
    conns = [await engine.connect() for _ in range(9)]
    for c in conns:
        await c.close()
    holder = asyncio.create_task(first())
    await first_holds.wait()
    waiting = []
    for n in range(1, 9):
        waiting.append(asyncio.create_task(writer(n)))
        await asyncio.sleep(0.2)  # let each one reach the queue before the next asks
    release_first.set()
    await asyncio.wait_for(asyncio.gather(holder, *waiting), 30)
    assert order == list(range(9))
    async with engine.connect() as conn:
        assert (await conn.scalar(text("SELECT count(*) FROM t"))) == 9


async def test_a_read_only_snapshot_does_not_wait_for_a_writer(engine: AsyncEngine) -> None:
    writer_holds = asyncio.Event()
    reader_done = asyncio.Event()

    async def writer() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            writer_holds.set()
            await reader_done.wait()  # holds the turn until the reader has read

    async def reader() -> int:
        await writer_holds.wait()
        async with engine.connect() as conn:
            await conn.execution_options(**{READ_ONLY: True})
            async with conn.begin():
                seen = int(await conn.scalar(text("SELECT count(*) FROM t")) or 0)
        reader_done.set()
        return seen

    _, seen = await asyncio.wait_for(asyncio.gather(writer(), reader()), 30)
    assert seen == 0  # the writer's row was not committed when the snapshot read


async def test_every_way_a_transaction_ends_hands_the_turn_on(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (1)"))

    async def fails() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (2)"))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await fails()
    conn = await engine.connect()
    await conn.begin()
    await conn.execute(text("INSERT INTO t VALUES (3)"))
    await conn.close()  # closed inside its transaction: rolled back by the pool

    # Each of those released its turn: these run at once instead of waiting out the queue's
    # timeout (the wait_for guard fails the test if a turn was leaked).
    async def write(n: int) -> None:
        async with engine.begin() as c:
            await c.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})

    await asyncio.wait_for(asyncio.gather(*(write(n) for n in range(4, 8))), 5)
    async with engine.connect() as c:
        rows = (await c.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all()
    assert rows == [1, 4, 5, 6, 7]
