"""Erasure work outside a request: settling pending shreds (``pdvault retention sweep``) and
re-shredding after a restore (``pdvault erasure reapply``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pdvault.audit.signing import LogSigner
from pdvault.audit.writer import AuditLog
from pdvault.config import Settings
from pdvault.crypto.factory import opened_key_provider
from pdvault.db import make_engine, make_sessionmaker, utcnow
from pdvault.erasure.ledger import pending_requests, reapply, record_settlement
from pdvault.erasure.shred import settle_storage
from pdvault.observability import Metrics


@dataclass
class Settled:
    settled: int
    pending: int


@dataclass
class ReapplyReport:
    checked: int
    reshredded: int
    settled: bool


async def settle_pending(engine: AsyncEngine, session: AsyncSession, audit: AuditLog) -> Settled:
    """Settle storage once more; on success mark every pending erasure read before it
    complete (an erasure committed after the read waits for the next run)."""
    pending = await pending_requests(session)
    await session.commit()
    if not pending:
        await settle_storage(engine, attempts=1)
        return Settled(0, 0)
    if not await settle_storage(engine):
        return Settled(0, len(pending))
    await record_settlement(session, audit, None, pending, True)
    await session.commit()
    return Settled(len(pending), 0)


async def reapply_erasures(
    engine: AsyncEngine,
    session: AsyncSession,
    audit: AuditLog,
    since: datetime,
    customer_ids: Iterable[uuid.UUID] = (),
    now: datetime | None = None,
) -> ReapplyReport:
    """Re-shred every erased customer holding key material again, commit, settle storage."""
    done = await reapply(session, audit, since, now or utcnow(), customer_ids)
    await session.commit()
    settled = await settle_storage(engine)
    if settled and done.requests:
        await record_settlement(session, audit, None, done.requests, True)
        await session.commit()
    return ReapplyReport(done.checked, len(done.reshredded), settled)


@asynccontextmanager
async def _tool(settings: Settings) -> AsyncIterator[tuple[AsyncEngine, AsyncSession, AuditLog]]:
    async with opened_key_provider(settings) as keys:
        audit = AuditLog(Metrics(), LogSigner(keys.signing_seed()), slots=1)
        engine = make_engine(settings.effective_database_url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                yield engine, session, audit
        finally:
            await engine.dispose()


async def run_settle(settings: Settings) -> Settled:
    async with _tool(settings) as (engine, session, audit):
        return await settle_pending(engine, session, audit)


async def run_reapply(
    settings: Settings, since: datetime, customer_ids: Iterable[uuid.UUID] = ()
) -> ReapplyReport:
    async with _tool(settings) as (engine, session, audit):
        return await reapply_erasures(engine, session, audit, since, customer_ids)
