from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DocumentKind(StrEnum):
    INVOICE = "invoice"
    RECEIPT = "receipt"
    CONTRACT = "contract"
    OTHER = "other"


# A reference (an order number), not free text: ASCII letters, digits and . _ / - only, so
# it cannot carry a name, an address or an email address.
ORDER_REF_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}")

FAKE_DOCUMENT: dict[str, Any] = {
    "id": "0193a5b0-7e2c-7d11-8c4a-5f0e00000041",
    "customer_id": "0193a5b0-7e2c-7d11-8c4a-5f0e00000001",
    "kind": "invoice",
    "order_ref": "DH-MAU-0001",
    "content_type": "application/pdf",
    "size": 48213,
    "created_at": "2026-11-25T10:00:00Z",
    "retain_until": "2036-12-31T17:00:00Z",
    "shredded_at": None,
}


class DocumentOut(BaseModel):
    """A document's metadata. Its bytes come only from the download, for a purpose."""

    model_config = ConfigDict(json_schema_extra={"examples": [FAKE_DOCUMENT]})

    id: uuid.UUID
    customer_id: uuid.UUID
    kind: DocumentKind
    order_ref: str
    content_type: str = Field(description="Sniffed from the bytes; the client's is ignored")
    size: int = Field(description="Bytes of the original file")
    created_at: datetime
    retain_until: datetime | None = Field(
        description="Kept (and then shredded) until this time; null: no legal retention, "
        "shredded when the customer is erased"
    )
    shredded_at: datetime | None = Field(
        default=None, description="When its key and bytes were destroyed; the download is 410"
    )


class DocumentPage(BaseModel):
    items: list[DocumentOut]
    next_cursor: str | None = None


UPLOAD_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["file", "kind", "order_ref"],
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "The document (PDF, PNG, JPEG, GIF, WebP, TIFF, XML or UTF-8 text; "
            "the type is read from the bytes). Its filename and content type are ignored.",
        },
        "kind": {"type": "string", "enum": [k.value for k in DocumentKind]},
        "order_ref": {
            "type": "string",
            "pattern": f"^{ORDER_REF_PATTERN.pattern}$",
            "maxLength": 100,
            "description": "The order (or contract) reference: letters, digits, . _ / -",
            "examples": ["DH-MAU-0001"],
        },
    },
}
