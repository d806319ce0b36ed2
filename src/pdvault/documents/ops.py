"""The retention sweep outside a request: for ``pdvault retention sweep``."""

from __future__ import annotations

from datetime import datetime

from pdvault.audit.signing import LogSigner
from pdvault.audit.writer import AuditLog
from pdvault.config import Settings
from pdvault.crypto.factory import opened_key_provider
from pdvault.db import make_engine, make_sessionmaker, utcnow
from pdvault.documents.service import sweep_expired
from pdvault.observability import Metrics


async def run_sweep(settings: Settings, batch: int = 500, now: datetime | None = None) -> int:
    """Shred every document whose retention has ended; each batch commits with its events."""
    async with opened_key_provider(settings) as keys:
        audit = AuditLog(Metrics(), LogSigner(keys.signing_seed()), slots=1)
        engine = make_engine(settings.effective_database_url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                shredded = await sweep_expired(
                    session,
                    now or utcnow(),
                    batch,
                    audit=audit,
                    after_batch=session.commit,
                    unapproved_hold_days=settings.judicial_unapproved_hold_days,
                )
                await session.commit()
                return shredded
        finally:
            await engine.dispose()
