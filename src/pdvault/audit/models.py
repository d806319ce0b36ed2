from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from pdvault.db import Base, UTCDateTime, utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
SeqType = BigInteger().with_variant(Integer(), "sqlite")


class AccessEvent(Base):
    """One access to personal data or a governance record, allowed or denied.

    Field names only, never values. Events are inserted, never updated or deleted; any change
    is caught by ``pdvault audit verify``.
    """

    __tablename__ = "access_events"

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    request_id: Mapped[str] = mapped_column(String(128))
    principal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    role: Mapped[str | None] = mapped_column(String(32), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    fields: Mapped[list[Any]] = mapped_column(JSON, default=list)
    purpose: Mapped[str | None] = mapped_column(String(64), nullable=True)
    basis: Mapped[str | None] = mapped_column(String(200), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Who acted with what: the token that made the access (NULL only for events written
    # without a caller's token, and for events from before it was recorded), and the principal
    # and token an administrative act was about (a token issued or revoked, a principal
    # created or disabled). Chained like every column (chain.TOKEN_COLUMNS).
    token_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    target_principal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    target_token_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    # The chain: which writer appended it, its place in that writer's chain, and
    # SHA-256(previous hash of the writer || canonical event). See audit/chain.py.
    writer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    writer_seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        UniqueConstraint("writer_id", "writer_seq", name="access_events_writer_key"),
        Index("ix_access_events_customer_id", "customer_id", "seq"),
        Index("ix_access_events_principal_id", "principal_id", "seq"),
        Index("ix_access_events_at", "at"),
        # The auditor's filters, each keyed on seq: a filtered page is a range of one index
        # in the listing's order (service.list_events), however rare the value. The time
        # rides along, so a time range is checked in the index, without reading the rows.
        Index("ix_access_events_role", "role", "seq", "at"),
        Index("ix_access_events_action", "action", "seq", "at"),
        Index("ix_access_events_purpose", "purpose", "seq", "at"),
        Index("ix_access_events_outcome", "outcome", "seq", "at"),
    )
