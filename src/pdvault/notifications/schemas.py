from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

FAKE_NOTICE: dict[str, Any] = {
    "id": "0193a5b0-7e2c-7d11-8c4a-5f0e00000031",
    "customer_id": "0193a5b0-7e2c-7d11-8c4a-5f0e00000001",
    "kind": "deletion_executed",
    "created_at": "2026-11-25T10:00:00Z",
    "data": {
        "deletion_request_id": "0193a5b0-7e2c-7d11-8c4a-5f0e00000021",
        "executed_at": "2026-11-25T10:00:00Z",
    },
    "delivered_at": None,
}


class NotificationOut(BaseModel):
    """A notice for the storefront to deliver: ids and references only, never a value."""

    model_config = ConfigDict(json_schema_extra={"examples": [FAKE_NOTICE]})

    id: uuid.UUID
    customer_id: uuid.UUID
    kind: str
    created_at: datetime
    data: dict[str, Any]
    delivered_at: datetime | None = None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = None
