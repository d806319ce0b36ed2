from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from pdvault.db import Base, UTCDateTime, new_id, utcnow


class Customer(Base):
    """One data subject. Personal fields exist only as ciphertexts under the customer's DEK.

    Erasure nulls the wrapped key, every ciphertext and both blind indexes and sets
    ``erased_at``: what remains is a tombstone with no personal data.
    """

    __tablename__ = "customers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    policy_version: Mapped[str] = mapped_column(String(64))
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    kek_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    wrapped_dek: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    full_name_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    phone_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    email_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    address_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    email_bidx: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, unique=True)
    phone_bidx: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)

    __table_args__ = (
        Index("ix_customers_phone_bidx", "phone_bidx"),
        Index("ix_customers_kek_version", "kek_version"),
    )


class Consent(Base):
    """Append-only consent history; the latest row per (customer, kind) is the current state."""

    __tablename__ = "consents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)

    __table_args__ = (Index("ix_consents_customer_kind", "customer_id", "kind", "recorded_at"),)


class AccessJustification(Base):
    """Issue 14.8: the ``X-Justification`` of an allowed ``special_case_support`` read.

    Linked to its access event by the request id, customer and action (events are
    append-only and carry no free text). The text is sealed under the customer's data key,
    bound to this row's id: erasure shreds it with the customer's fields.
    """

    __tablename__ = "access_justifications"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    request_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    principal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    text_ct: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        Index("ix_access_justifications_customer", "customer_id", "at"),
        Index("ix_access_justifications_request", "request_id"),
    )
