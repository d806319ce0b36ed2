from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, PrimaryKeyConstraint, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from pdvault.db import Base, UTCDateTime, new_id, utcnow

SUBMITTED, APPROVED, REJECTED = "submitted", "approved", "rejected"


class JudicialRequest(Base):
    """A judicial body's request for disclosure (R2.3): recorded, approved by a second DPO."""

    __tablename__ = "judicial_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    authority_type: Mapped[str] = mapped_column(String(32))
    authority_name: Mapped[str] = mapped_column(String(300))
    document_number: Mapped[str] = mapped_column(String(100))
    document_date: Mapped[date] = mapped_column(Date)
    legal_basis: Mapped[str] = mapped_column(Text)
    case_reference: Mapped[str] = mapped_column(String(200))
    fields: Mapped[list[Any]] = mapped_column(JSON)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=SUBMITTED)
    filed_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rejection_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_judicial_requests_status", "status", "valid_until"),)


class JudicialRequestCustomer(Base):
    """The customers a request names; indexed by customer for the legal-hold check."""

    __tablename__ = "judicial_request_customers"

    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("judicial_requests.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))

    __table_args__ = (
        PrimaryKeyConstraint("request_id", "customer_id"),
        Index("ix_judicial_request_customers_customer_id", "customer_id"),
    )
