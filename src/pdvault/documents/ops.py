"""The retention sweep outside a request: for ``pdvault retention sweep``."""

from __future__ import annotations

from datetime import datetime

from pdvault.config import Settings
from pdvault.db import utcnow
from pdvault.documents.service import sweep_expired
from pdvault.jobs import job


async def run_sweep(settings: Settings, batch: int = 500, now: datetime | None = None) -> int:
    """Shred every document whose retention has ended; each batch commits with its events."""
    async with job(settings) as j:
        shredded = await sweep_expired(
            j.session,
            now or utcnow(),
            batch,
            audit=j.audit,
            after_batch=j.session.commit,
            unapproved_hold_days=settings.judicial_unapproved_hold_days,
        )
        await j.session.commit()
        return shredded
