"""The notice outbox: what the storefront must tell a customer (R7.2, a deletion executed).

A notice holds ids, kinds and references only, never a personal value: the storefront
delivers it through its own channel to the signed-in customer and acknowledges it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from pdvault.db import Base, UTCDateTime, new_id, utcnow


class NoticeKind(StrEnum):
    DELETION_EXECUTED = "deletion_executed"
    BREACH = "breach_notification"


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(48))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # One notice per (cause, customer): re-running a fan-out adds nothing (unique, nullable).
    dedupe_key: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)

    __table_args__ = (
        Index("ix_notifications_customer_pending", "customer_id", "delivered_at"),
        Index("ix_notifications_pending", "delivered_at", "id"),
    )
