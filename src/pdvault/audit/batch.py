"""Group commit for the events of reads.

A read writes nothing but its access event, so its transaction need not carry the event:
it ends (holding no write lock: on SQLite a read-only request never takes the database's
write lock), and the event is handed to this process's log writers, which append every event
waiting at that moment in one transaction and commit it. The request waits for that commit
before any personal data leaves, exactly as when the event rode in its own transaction: an
event that cannot be committed means 503 and no data.

Under load the events of concurrent reads share one insert and one commit, so the cost of
the log per read falls with concurrency instead of adding a statement and a write commit to
every request. A writer holds its chain slot only for the batch's insert and commit; a few
writers per process run side by side, and every process has its own, so no lock spans every
request's transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pdvault.errors import StorageFault

AppendRows = Callable[[AsyncSession, list[dict[str, Any]]], Awaitable[None]]


class LogUnavailable(StorageFault, RuntimeError):
    """The batch holding a read's event could not be committed: the read is refused (503)."""


@dataclass
class _Waiting:
    rows: list[dict[str, Any]]
    done: asyncio.Future[None]


class LogBatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        append: AppendRows,
        *,
        writers: int = 2,
        max_events: int = 500,
    ) -> None:
        self.sessions, self.append = sessions, append
        self.writers, self.max_events = max(1, writers), max(1, max_events)
        self._queue: asyncio.Queue[_Waiting] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0  # committed batches, for tests and the bench
        self.largest = 0  # the most events one batch has held

    async def submit(self, rows: list[dict[str, Any]]) -> None:
        """Return once ``rows`` are committed to the log; raise LogUnavailable if they are not."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._queue is None:
            self._start(loop)
        queue = self._queue
        if queue is None:  # pragma: no cover - _start sets it
            raise LogUnavailable("the access log writers are not running")
        waiting = _Waiting(rows, loop.create_future())
        queue.put_nowait(waiting)
        await asyncio.shield(waiting.done)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue = asyncio.Queue()
        self._tasks = [loop.create_task(self._run(self._queue)) for _ in range(self.writers)]

    async def _run(self, queue: asyncio.Queue[_Waiting]) -> None:
        while True:
            first = await queue.get()
            batch, count = [first], len(first.rows)
            while count < self.max_events and not queue.empty():
                nxt = queue.get_nowait()
                batch.append(nxt)
                count += len(nxt.rows)
            try:
                await self._commit(batch)
            except asyncio.CancelledError:
                _fail(batch, None)
                raise
            except Exception as exc:  # every waiter is refused; the writer goes on
                _fail(batch, exc)
            else:
                self.batches += 1
                self.largest = max(self.largest, count)
                for waiting in batch:
                    if not waiting.done.done():
                        waiting.done.set_result(None)

    async def _commit(self, batch: list[_Waiting]) -> None:
        rows = [row for waiting in batch for row in waiting.rows]
        async with self.sessions() as session:
            await self.append(session, rows)
            await session.commit()

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        queue, self._queue, self._loop = self._queue, None, None
        while queue is not None and not queue.empty():
            _fail([queue.get_nowait()], None)


def _fail(batch: list[_Waiting], cause: BaseException | None) -> None:
    for waiting in batch:
        if not waiting.done.done():
            error = LogUnavailable("the access log could not be written")
            error.__cause__ = cause
            waiting.done.set_exception(error)
