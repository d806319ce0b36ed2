"""Bodies of the deletion-request endpoints. Examples are fake."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pdvault.subjects.schemas import Channel, RejectionIn

_REQ = "0193a5b0-7e2c-7d11-8c4a-5f0e00000021"
_CID = "0193a5b0-7e2c-7d11-8c4a-5f0e00000001"
FAKE_REQUEST_IN: dict[str, Any] = {
    "customer_id": _CID,
    "channel": "storefront",
    "note": "Yêu cầu xoá tài khoản (ví dụ)",
}
FAKE_REQUEST: dict[str, Any] = {
    "id": _REQ,
    "customer_id": _CID,
    "channel": "storefront",
    "status": "pending",
    "requested_at": "2026-11-25T10:00:00Z",
    "due_at": "2026-11-28T10:00:00Z",
    "decided_at": None,
    "overdue": False,
    "rejection_reason": None,
    "shredding": None,
}


class DeletionRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [FAKE_REQUEST_IN]})

    customer_id: uuid.UUID
    channel: Channel
    note: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="The customer's own words, if any: sealed, shredded with the customer",
    )


class DeletionRejectIn(RejectionIn):
    pass


class DeletionRequestOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [FAKE_REQUEST]})

    id: uuid.UUID
    customer_id: uuid.UUID
    channel: str
    status: str
    requested_at: datetime
    due_at: datetime
    decided_at: datetime | None
    overdue: bool
    rejection_reason: str | None = None
    note: str | None = Field(default=None, description="Only for the dpo, while not erased")
    shredding: Literal["pending", "complete"] | None = Field(
        default=None,
        description="Executed requests: complete once no copy of the wrapped data key is left "
        "in the database files; pending until then (docs/erasure.md)",
    )


class DeletionRequestPage(BaseModel):
    items: list[DeletionRequestOut]
    next_cursor: str | None
