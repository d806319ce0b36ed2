"""The per-process container the lifespan builds: settings, engine, keys, log, caches."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pdvault.audit.checkpoints import Checkpointer
from pdvault.audit.writer import AuditLog
from pdvault.auth.principal import PrincipalCache
from pdvault.auth.throttle import AuthFailureLimiter
from pdvault.config import Settings
from pdvault.crypto.provider import KeyProvider
from pdvault.observability import Metrics


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    keys: KeyProvider
    audit: AuditLog
    metrics: Metrics
    principals: PrincipalCache
    checkpointer: Checkpointer
    auth_failures: AuthFailureLimiter
    # Sessions whose transactions begin read-only (db.READ_ONLY): the read routes (deps.py).
    read_sessions: async_sessionmaker[AsyncSession] | None = None

    def sessions_for(self, read_only: bool) -> async_sessionmaker[AsyncSession]:
        return self.read_sessions if read_only and self.read_sessions else self.sessions
