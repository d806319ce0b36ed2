"""Issue 21: the record of each version of the regulator's paperwork that was generated."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from pdvault.db import Base, UTCDateTime, new_id, utcnow


class PaperworkVersion(Base):
    """One generated document: which kind (and breach), who, when, in which language and
    format, and the SHA-256 of the bytes handed out. No content is kept: the document is
    drawn again from the records, and the hash tells whether a kept copy is the one issued."""

    __tablename__ = "paperwork_versions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(32))
    breach_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    principal_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    language: Mapped[str] = mapped_column(String(8))
    format: Mapped[str] = mapped_column(String(8))
    sha256: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_paperwork_versions_kind_at", "kind", "generated_at"),)
