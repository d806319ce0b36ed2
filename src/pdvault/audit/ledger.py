"""Tables of the tamper-evidence layer: registered writers, signed checkpoints, and the signed
record of every verification run (where the next incremental run starts)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from pdvault.db import Base, UTCDateTime, utcnow

IdType = BigInteger().with_variant(Integer(), "sqlite")


class AuditWriter(Base):
    """One chain of the log. Registered with a signature, so no forged chain can pose as one."""

    __tablename__ = "audit_writers"

    writer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    process: Mapped[str] = mapped_column(String(200))
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class AuditCheckpoint(Base):
    """A signed statement of every writer's head at one moment."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seq: Mapped[int] = mapped_column(BigInteger)
    events: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary)
    heads: Mapped[list[Any]] = mapped_column(JSON)
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[bytes] = mapped_column(LargeBinary)

    # The listing's time filter finds the last checkpoint made before a time (service.py).
    __table_args__ = (Index("ix_audit_checkpoints_at", "at"),)


class AuditVerifyRun(Base):
    """One verification run and its result (audit/runs.py).

    ``through_checkpoint_id`` is the last checkpoint the run verified: an ok run's is where the
    next incremental run starts. The row is signed (chain.verify_run_statement) over what the
    next run relies on, so a row written or edited in the database cannot move that start.
    """

    __tablename__ = "audit_verify_runs"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    mode: Mapped[str] = mapped_column(String(16))  # "full" | "incremental"
    from_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    to_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    from_checkpoint_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    through_checkpoint_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    first_invalid_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    problem: Mapped[str | None] = mapped_column(String(200), nullable=True)
    events_checked: Mapped[int] = mapped_column(BigInteger)
    checkpoints_checked: Mapped[int] = mapped_column(Integer)
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (Index("ix_audit_verify_runs_ok", "ok", "id"),)
