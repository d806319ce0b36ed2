"""Server-side console sessions (issue 18).

The browser's cookie holds only a random id (32 bytes, URL-safe); the table keeps its SHA-256,
the principal, the personal token it signed in with, the session's CSRF token and language.
Every request reads its row joined with that token and principal, so a revoked or expired
token, a disabled principal, an idle session (``idle``) or one past its absolute lifetime
(``lifetime``) ends at that request: there is no cache to wait out. ``now`` is the wall
clock (``db.utcnow``), replaced by a test's ``FakeClock.now``.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.auth.principal import Actor
from pdvault.console.models import ConsoleSession
from pdvault.db import utcnow
from pdvault.policy import Role, may_use_console
from pdvault.principals.models import Principal, Token

# A session seen within this long is not written again: a page view costs no UPDATE, and the
# idle timeout is measured to within a minute.
TOUCH_EVERY = timedelta(minutes=1)


def id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """A signed-in person, as every console page is handed it (``web.ConsolePage``)."""

    actor: Actor
    id_hash: str
    csrf_token: str
    language: str


class ConsoleSessions:
    def __init__(
        self, idle: timedelta, lifetime: timedelta, *, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.idle = idle
        self.lifetime = lifetime
        self.now = now

    async def open(self, session: AsyncSession, actor: Actor, language: str) -> str:
        """A new session for ``actor``; returns the id for the cookie (never stored)."""
        session_id = secrets.token_urlsafe(32)
        now = self.now()
        session.add(
            ConsoleSession(
                id_hash=id_hash(session_id),
                principal_id=actor.principal_id,
                token_id=actor.token_id,
                csrf_token=secrets.token_urlsafe(32),
                language=language,
                created_at=now,
                last_seen_at=now,
            )
        )
        await session.flush()
        return session_id

    async def resolve(self, session: AsyncSession, session_id: str) -> tuple[SignedIn | None, bool]:
        """The signed-in person behind a cookie's id, or None (a session that has ended is
        deleted); and whether anything was written (the caller commits it)."""
        digest = id_hash(session_id)
        row = (
            await session.execute(
                select(ConsoleSession, Token, Principal)
                .join(Token, Token.id == ConsoleSession.token_id)
                .join(Principal, Principal.id == ConsoleSession.principal_id)
                .where(ConsoleSession.id_hash == digest)
            )
        ).first()
        if row is None:
            return None, False
        held, token, principal = row
        now = self.now()
        if (
            principal.disabled_at is not None
            or token.revoked_at is not None
            or token.expires_at <= now
            or held.last_seen_at + self.idle <= now
            or held.created_at + self.lifetime <= now
            or not may_use_console(principal.role)
        ):
            await session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == digest))
            return None, True
        touched = held.last_seen_at + TOUCH_EVERY <= now
        if touched:
            await session.execute(
                update(ConsoleSession)
                .where(ConsoleSession.id_hash == digest)
                .values(last_seen_at=now)
            )
        actor = Actor(
            principal_id=principal.id,
            name=principal.name,
            role=Role(principal.role),
            partner_id=principal.partner_id,
            token_id=token.id,
        )
        return SignedIn(actor, digest, held.csrf_token, held.language), touched

    async def end(self, session: AsyncSession, digest: str) -> None:
        await session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == digest))

    async def end_everywhere(self, session: AsyncSession, principal_id: uuid.UUID) -> None:
        """Every session of the principal, in every browser."""
        await session.execute(
            delete(ConsoleSession).where(ConsoleSession.principal_id == principal_id)
        )

    async def end_token(self, session: AsyncSession, token_id: uuid.UUID) -> None:
        """Every session signed in with this token (it was revoked)."""
        await session.execute(delete(ConsoleSession).where(ConsoleSession.token_id == token_id))

    async def set_language(self, session: AsyncSession, digest: str, language: str) -> None:
        await session.execute(
            update(ConsoleSession).where(ConsoleSession.id_hash == digest).values(language=language)
        )
