"""Erasure work outside a request: settling pending shreds (``pdvault retention sweep``) and
re-shredding after a restore (``pdvault erasure reapply``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pdvault.audit.writer import AuditLog
from pdvault.config import Settings
from pdvault.db import utcnow
from pdvault.erasure.ledger import pending_requests, reapply, record_settlement
from pdvault.erasure.shred import settle_storage
from pdvault.jobs import job


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


async def run_settle(settings: Settings) -> Settled:
    async with job(settings) as j:
        return await settle_pending(j.engine, j.session, j.audit)


async def run_reapply(
    settings: Settings, since: datetime, customer_ids: Iterable[uuid.UUID] = ()
) -> ReapplyReport:
    async with job(settings) as j:
        return await reapply_erasures(j.engine, j.session, j.audit, since, customer_ids)
