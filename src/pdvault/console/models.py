"""The console's server-side sessions (issue 18): the browser holds only a random id."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from pdvault.db import Base, UTCDateTime


class ConsoleSession(Base):
    """One signed-in browser. ``id_hash`` is the SHA-256 of the cookie's random id (the id
    itself is never stored); ``token_id`` is the personal token it signed in with, so revoking
    that token or disabling its principal ends the session at its next request."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"), index=True)
    token_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tokens.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
