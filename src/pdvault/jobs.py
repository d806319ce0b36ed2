"""A job outside a request (a command-line run): the configured key provider, prepared; one
database session on a small engine; and an access log that signs as this vault. Opened
together, closed after the job, in one place for every such job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pdvault.audit.signing import LogSigner
from pdvault.audit.writer import AuditLog
from pdvault.config import Settings
from pdvault.crypto.factory import opened_key_provider
from pdvault.crypto.provider import KeyProvider
from pdvault.db import make_engine, make_sessionmaker
from pdvault.observability import Metrics


@dataclass(frozen=True)
class Job:
    keys: KeyProvider
    engine: AsyncEngine
    session: AsyncSession
    audit: AuditLog


@asynccontextmanager
async def job(settings: Settings) -> AsyncIterator[Job]:
    async with opened_key_provider(settings) as keys:
        audit = AuditLog(Metrics(), LogSigner(keys.signing_seed()), slots=1)
        engine = make_engine(settings.effective_database_url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                yield Job(keys, engine, session, audit)
        finally:
            await engine.dispose()
