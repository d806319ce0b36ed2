"""Signed checkpoints: every writer's head, hashed into one root, signed with Ed25519."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pdvault.audit.chain import checkpoint_statement, heads_root
from pdvault.audit.ledger import AuditCheckpoint
from pdvault.audit.models import AccessEvent
from pdvault.audit.signing import LogSigner
from pdvault.db import utcnow

log = logging.getLogger("pdvault.audit")


async def current_heads(session: AsyncSession) -> list[dict[str, Any]]:
    last = (
        select(AccessEvent.writer_id, func.max(AccessEvent.writer_seq).label("top"))
        .group_by(AccessEvent.writer_id)
        .subquery()
    )
    rows = await session.execute(
        select(AccessEvent.writer_id, AccessEvent.writer_seq, AccessEvent.seq, AccessEvent.hash)
        .join(
            last,
            (last.c.writer_id == AccessEvent.writer_id) & (last.c.top == AccessEvent.writer_seq),
        )
        .order_by(AccessEvent.writer_id)
    )
    return [
        {"writer_id": str(w), "writer_seq": int(ws), "seq": int(s), "hash": h.hex()}
        for w, ws, s, h in rows
    ]


def sign_checkpoint(
    heads: list[dict[str, Any]], signer: LogSigner, at: datetime
) -> AuditCheckpoint:
    """The signed checkpoint of these heads (``current_heads``' shape), made at ``at``."""
    seq = max(h["seq"] for h in heads)
    events = sum(h["writer_seq"] for h in heads)
    root = heads_root(heads)
    return AuditCheckpoint(
        at=at,
        seq=seq,
        events=events,
        root_hash=root,
        heads=heads,
        key_id=signer.key_id,
        signature=signer.sign(checkpoint_statement(seq, root, at, events)),
    )


async def create_checkpoint(session: AsyncSession, signer: LogSigner) -> AuditCheckpoint | None:
    """Sign the heads as they stand; None when the log is empty or nothing moved since."""
    heads = await current_heads(session)
    if not heads:
        return None
    latest = await session.scalar(
        select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
    )
    root = heads_root(heads)
    if latest is not None and latest.root_hash == root:
        return None
    checkpoint = sign_checkpoint(heads, signer, utcnow())
    session.add(checkpoint)
    await session.flush()
    return checkpoint


class Checkpointer:
    """Checkpoints every ``every_events`` events appended here, or every ``every_seconds``."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        signer: LogSigner,
        every_events: int,
        every_seconds: float,
    ) -> None:
        self.sessions, self.signer = sessions, signer
        self.every_events, self.every_seconds = every_events, every_seconds
        self._since = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_at: datetime | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pdvault-checkpointer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def appended(self, count: int) -> None:
        self._since += count
        if self._since >= self.every_events:
            self._wake.set()

    async def checkpoint_now(self) -> AuditCheckpoint | None:
        async with self.sessions() as session:
            checkpoint = await create_checkpoint(session, self.signer)
            await session.commit()
        self._since = 0
        self.last_at = utcnow()
        return checkpoint

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.every_seconds)
            self._wake.clear()
            try:
                await self.checkpoint_now()
            except Exception as exc:  # the next round retries; the log itself is unaffected
                log.warning("checkpoint failed", extra={"error": type(exc).__name__})
