"""Deletion requests (R3.1): pending → executed | rejected, with a due date."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from pdvault.db import Base
from pdvault.subjects.models import RequestColumns


class DeletionStatus(StrEnum):
    PENDING = "pending"
    EXECUTED = "executed"
    REJECTED = "rejected"


class Shredding(StrEnum):
    """Whether an executed erasure has left the database files (docs/erasure.md)."""

    PENDING = "pending"  # committed; an earlier page image may still be on disk (SQLite WAL)
    COMPLETE = "complete"  # no copy of the wrapped data key left in the database files


class DeletionRequest(RequestColumns, Base):
    """A data subject's (or the DPO's) request to erase a customer.

    ``note_ct`` is free text the customer may have written: it is sealed under the customer's
    data key, so erasing the customer shreds it with everything else.
    """

    __tablename__ = "deletion_requests"

    note_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    shredding: Mapped[str | None] = mapped_column(String(16), nullable=True)

    __table_args__ = (
        Index("ix_deletion_requests_customer", "customer_id", "status"),
        Index("ix_deletion_requests_status_due", "status", "due_at"),
    )
