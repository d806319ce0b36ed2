"""Idempotency-Key: a replay returns the first response; another body under the key → 422."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Integer, LargeBinary, PrimaryKeyConstraint, String, Uuid, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.responses import Response

from pdvault.auth.principal import Actor
from pdvault.db import Base, UTCDateTime, utcnow
from pdvault.errors import Unprocessable
from pdvault.runtime import Runtime

_SANE_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    principal_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    key: Mapped[str] = mapped_column(String(255))
    operation: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (PrimaryKeyConstraint("principal_id", "key", "operation"),)


def request_fingerprint(secret: bytes, body: bytes) -> str:
    # Keyed: the canonical body holds personal values, and a plain hash of a phone number
    # is trivially reversed by enumeration.
    return hmac.new(secret, b"idempotency\x00" + body, hashlib.sha256).hexdigest()


async def find(
    session: AsyncSession, principal_id: uuid.UUID, key: str, operation: str
) -> IdempotencyRecord | None:
    return await session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.principal_id == principal_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.operation == operation,
        )
    )


def remember(
    session: AsyncSession,
    principal_id: uuid.UUID,
    key: str,
    operation: str,
    fingerprint: str,
    status_code: int,
    body: bytes,
) -> None:
    session.add(
        IdempotencyRecord(
            principal_id=principal_id,
            key=key,
            operation=operation,
            request_hash=fingerprint,
            status_code=status_code,
            body=body,
        )
    )


class IdempotentCall:
    """One POST under an optional Idempotency-Key.

    ``replay`` returns the stored first response for a repeated key and body, refuses a
    different body under the same key (422), and otherwise lets the call proceed; ``stage``
    stores the response in the same transaction as the work, which the route commits.
    """

    def __init__(
        self, runtime: Runtime, session: AsyncSession, actor: Actor, operation: str, key: str | None
    ) -> None:
        if key is not None and not _SANE_KEY.match(key):
            raise Unprocessable(
                "Idempotency-Key must be 1-255 visible ASCII characters.",
                errors=[{"loc": ["header", "Idempotency-Key"], "msg": "invalid key"}],
            )
        self.runtime, self.session, self.actor = runtime, session, actor
        self.operation, self.key = operation, key
        self.fingerprint = ""

    async def replay(self, canonical_body: bytes) -> Response | None:
        if self.key is None:
            return None
        self.fingerprint = request_fingerprint(self.runtime.keys.index_key(), canonical_body)
        return await self._stored()

    async def _stored(self) -> Response | None:
        if self.key is None:
            return None
        record = await find(self.session, self.actor.principal_id, self.key, self.operation)
        if record is None:
            return None
        if not hmac.compare_digest(record.request_hash, self.fingerprint):
            raise Unprocessable(
                "This Idempotency-Key was used with a different request body.",
                reason="idempotency_key_reused",
            )
        return Response(
            record.body,
            status_code=record.status_code,
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )

    def stage(self, status_code: int, payload: dict[str, Any]) -> Response:
        """The response, remembered under the key in the work's own transaction (no commit:
        the route commits both, and on an ``IntegrityError`` answers with ``raced``)."""
        body = orjson.dumps(payload)
        if self.key is not None:
            remember(
                self.session,
                self.actor.principal_id,
                self.key,
                self.operation,
                self.fingerprint,
                status_code,
                body,
            )
        return Response(body, status_code=status_code, media_type="application/json")

    async def raced(self) -> Response | None:
        """After the commit failed and was rolled back: the response of the request that
        stored the same key first, if that is why it failed."""
        return await self._stored()
