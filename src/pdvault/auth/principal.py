"""Resolving the caller: bearer token → principal, cached per worker for at most 1 second."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.auth.tokens import hash_token, looks_like_token
from pdvault.db import utcnow
from pdvault.policy import Role
from pdvault.principals.models import Principal, Token


@dataclass(frozen=True)
class Actor:
    """The authenticated caller, as every service sees it."""

    principal_id: uuid.UUID
    name: str
    role: Role
    partner_id: uuid.UUID | None
    token_id: uuid.UUID


class PrincipalCache:
    """Token hash → actor, trusted for ``ttl`` seconds.

    Revocation and disabling are checked in the database on every miss, so with ``ttl`` ≤ 1 s a
    revoked token or disabled principal stops working within a second on every worker, without
    any cross-process signalling. The worker that revokes also drops its own entries at once.

    ``clock`` (seconds, for the entries' lifetime) and ``now`` (the wall time a token's expiry
    is compared with) are the real clocks unless a test hands in a fake one to advance.
    """

    def __init__(
        self,
        ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self.now = now
        self._entries: dict[str, tuple[Actor, float]] = {}

    def get(self, token_hash: str) -> Actor | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        actor, expires = entry
        if self.clock() >= expires:
            self._entries.pop(token_hash, None)
            return None
        return actor

    def put(self, token_hash: str, actor: Actor) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[token_hash] = (actor, self.clock() + self.ttl)

    def clear(self) -> None:
        self._entries.clear()


@dataclass(frozen=True)
class Resolution:
    """A token's holder and, when the token no longer works, why (else ``lapsed`` is None)."""

    actor: Actor
    lapsed: str | None


async def resolve_token(
    session: AsyncSession, cache: PrincipalCache, token: str
) -> Resolution | None:
    """None for a token nobody holds; a lapsed resolution names a disabled principal or a
    revoked or expired token, so the refusal can be logged against its holder."""
    if not looks_like_token(token):
        return None
    digest = hash_token(token)
    cached = cache.get(digest)
    if cached is not None:
        return Resolution(cached, None)
    row = (
        await session.execute(
            select(Token, Principal)
            .join(Principal, Principal.id == Token.principal_id)
            .where(Token.token_hash == digest)
        )
    ).first()
    if row is None:
        return None
    tok, principal = row
    actor = Actor(
        principal_id=principal.id,
        name=principal.name,
        role=Role(principal.role),
        partner_id=principal.partner_id,
        token_id=tok.id,
    )
    if principal.disabled_at is not None:
        return Resolution(actor, "principal_disabled")
    if tok.revoked_at is not None:
        return Resolution(actor, "token_revoked")
    if tok.expires_at <= cache.now():
        return Resolution(actor, "token_expired")
    cache.put(digest, actor)
    return Resolution(actor, None)
