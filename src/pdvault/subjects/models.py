"""Data-subject requests (R6.1): what deletion and access requests share, and access requests.

Both go pending → (executed | fulfilled) | rejected, carry a due date from configuration, and
while pending open the dpo's ``data_subject_request`` purpose on their customer.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from pdvault.db import Base, UTCDateTime, new_id, utcnow

PENDING, REJECTED = "pending", "rejected"


class RequestColumns:
    """The columns every data-subject request has (a declarative mixin)."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    requested_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Written before revision 0011 only (clear text; ``pdvault seal-free-text`` moves it).
    rejection_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Issue 14.10: the reason, sealed under the customer's data key (shredded with it).
    rejection_reason_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class AccessRequest(RequestColumns, Base):
    """A person asks, through a channel other than self-service, for everything held on them.

    The dpo serves it with the export (under ``data_subject_request``) and marks it fulfilled.
    """

    __tablename__ = "access_requests"

    # The person's own request this one records (letter number, ticket or message id): the
    # dpo must cite it when filing (issue 14.6; ``policy.access_request_needs_reference``).
    reference: Mapped[str | None] = mapped_column(String(100), nullable=True)

    __table_args__ = (
        Index("ix_access_requests_customer", "customer_id", "status"),
        Index("ix_access_requests_status_due", "status", "due_at"),
    )
