"""Transaction documents (R7.3): each file encrypted under its own data key.

A document's row holds no personal field: the customer id (kept on the tombstone after
erasure), its kind, an order reference, the sniffed type, the size and dates. The bytes exist
only as one AES-GCM ciphertext under the document's own key; shredding nulls both.
No hash of the plaintext is stored: a plain hash of a document is a fingerprint of personal
content, and AES-GCM already authenticates the bytes.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from pdvault.db import Base, UTCDateTime, new_id, utcnow


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(16))
    order_ref: Mapped[str] = mapped_column(String(100))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    kek_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    wrapped_dek: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # Up to max_document_bytes: never loaded unless asked for (listing reads metadata only).
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)

    __table_args__ = (
        Index("ix_documents_customer", "customer_id", "id"),
        Index("ix_documents_retain_until", "retain_until"),
        Index("ix_documents_kek_version", "kek_version"),
    )
