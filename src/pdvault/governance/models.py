"""Tables of the governance records: complaints with their history, breaches with the
customers they affect."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from pdvault.db import Base, UTCDateTime, new_id, utcnow


class ComplaintStatus(StrEnum):
    RECEIVED = "received"
    INVESTIGATING = "investigating"
    UPHELD = "upheld"
    REJECTED = "rejected"
    CLOSED = "closed"


# R6.2: received → investigating → upheld | rejected → closed. Nothing else.
TRANSITIONS: dict[ComplaintStatus, frozenset[ComplaintStatus]] = {
    ComplaintStatus.RECEIVED: frozenset({ComplaintStatus.INVESTIGATING}),
    ComplaintStatus.INVESTIGATING: frozenset({ComplaintStatus.UPHELD, ComplaintStatus.REJECTED}),
    ComplaintStatus.UPHELD: frozenset({ComplaintStatus.CLOSED}),
    ComplaintStatus.REJECTED: frozenset({ComplaintStatus.CLOSED}),
    ComplaintStatus.CLOSED: frozenset(),
}
# Not yet answered: the due date runs, and the complaint can be overdue.
UNDECIDED = frozenset({ComplaintStatus.RECEIVED, ComplaintStatus.INVESTIGATING})
# Opens ``complaint_handling`` on the customer: undecided, or upheld with measures under way.
CASE_OPEN = UNDECIDED | {ComplaintStatus.UPHELD}


class Complaint(Base):
    """A complaint about the handling of personal data.

    ``description`` and ``contact`` are free text, sealed under the complaint's own data key
    (bound to the complaint id); shredding nulls the key and every ciphertext, here and in
    the history, and leaves the metadata.
    """

    __tablename__ = "complaints"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id"), nullable=True)
    category: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=ComplaintStatus.RECEIVED.value)
    filed_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rejection_ground: Mapped[str | None] = mapped_column(String(48), nullable=True)
    transitions: Mapped[int] = mapped_column(Integer, default=0)

    kek_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    wrapped_dek: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    description_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    contact_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_complaints_customer_status", "customer_id", "status"),
        Index("ix_complaints_status_due", "status", "due_at"),
        Index("ix_complaints_received_at", "received_at"),
    )


class ComplaintTransition(Base):
    """One move of a complaint: who, when, from, to, what was done, which events prove it."""

    __tablename__ = "complaint_transitions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    complaint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("complaints.id"))
    step: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    by: Mapped[uuid.UUID] = mapped_column(Uuid)
    note_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    measures_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    evidence_event_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    rejection_ground: Mapped[str | None] = mapped_column(String(48), nullable=True)

    # The step number makes two concurrent moves from the same state collide.
    __table_args__ = (UniqueConstraint("complaint_id", "step", name="complaint_transitions_step"),)


class Breach(Base):
    """R7.2: a personal-data breach, its authority notification and its subject notices."""

    __tablename__ = "breaches"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    summary: Mapped[str] = mapped_column(Text)
    data_categories: Mapped[list[Any]] = mapped_column(JSON)
    all_customers: Mapped[bool] = mapped_column(Boolean, default=False)
    affected_count: Mapped[int] = mapped_column(Integer, default=0)
    authority_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    authority_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    authority_name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    authority_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    authority_recorded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    subjects_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    subject_notices: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_breaches_detected_at", "detected_at"),)


class BreachCustomer(Base):
    """The customers a breach names (when it does not affect every customer)."""

    __tablename__ = "breach_customers"

    breach_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("breaches.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))

    __table_args__ = (
        PrimaryKeyConstraint("breach_id", "customer_id"),
        Index("ix_breach_customers_customer_id", "customer_id"),
    )
