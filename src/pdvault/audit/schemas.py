from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

_EVENT_EXAMPLE: dict[str, Any] = {
    "seq": 42,
    "at": "2026-01-01T00:00:00Z",
    "request_id": "3f2a9c0d6e1b4a7f8c5d2e1f0a9b8c7d",
    "principal_id": "0190f3a0-0000-7000-8000-00000000000b",
    "role": "employee",
    "action": "customer.read",
    "customer_id": "0190f3a0-0000-7000-8000-000000000001",
    "fields": ["full_name", "phone"],
    "purpose": "order_confirmation",
    "basis": "purpose:order_confirmation",
    "outcome": "allowed",
    "reason": None,
    # Ids of tokens, not tokens: bandit reads any "token" key as a password.
    "token_id": "0190f3a0-0000-7000-8000-00000000000c",  # nosec B105
    "target_principal_id": None,
    "target_token_id": None,  # nosec B105
    "writer_id": "0190f3a0-0000-7000-8000-0000000000aa",
    "writer_seq": 7,
    "hash": "9f" * 32,
}


class EventOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EVENT_EXAMPLE]})

    seq: int
    at: datetime
    request_id: str
    principal_id: uuid.UUID | None
    role: str | None
    action: str
    customer_id: uuid.UUID | None
    fields: list[str]
    purpose: str | None
    basis: str | None
    outcome: str
    reason: str | None
    token_id: uuid.UUID | None
    target_principal_id: uuid.UUID | None
    target_token_id: uuid.UUID | None
    writer_id: uuid.UUID
    writer_seq: int
    hash: str


EXPORT_MEDIA_TYPE = "application/x-ndjson"
# The export's body in the contract: a string, its line format in words (OpenAPI 3.1 has no
# schema for a stream of JSON values), with two lines as the example.
EXPORT_RESPONSE: dict[str, Any] = {
    "description": "JSON Lines, streamed: one access event per line, oldest first (`seq` "
    "ascending), each line an `EventOut` object (the schema of GET /v1/audit/events' items) "
    "ending in a newline; no events, no lines.",
    "content": {
        EXPORT_MEDIA_TYPE: {
            "schema": {
                "type": "string",
                "description": "UTF-8 lines, each one JSON object shaped as `EventOut`",
            },
            "example": "".join(
                json.dumps(event, separators=(",", ":")) + "\n"
                for event in (_EVENT_EXAMPLE, {**_EVENT_EXAMPLE, "seq": 43, "writer_seq": 8})
            ),
        }
    },
}


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None


class CheckpointOut(BaseModel):
    id: int
    at: datetime
    seq: int
    events: int
    root_hash: str
    key_id: str
    signature: str
    heads: list[dict[str, object]]


class CheckpointPage(BaseModel):
    items: list[CheckpointOut]
    next_cursor: str | None


class PublicKeyOut(BaseModel):
    algorithm: str
    key_id: str
    public_key: str
    pem: str


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    first_invalid_seq: int | None
    problem: str | None
    checkpoint: dict[str, object] | None
    checkpoints_checked: int
    writers: int
    run_id: int
    mode: Literal["full", "incremental"]
    from_checkpoint_id: int | None
    from_seq: int | None
    to_seq: int | None


class VerifyRunOut(BaseModel):
    """One verification run as recorded (audit/runs.py)."""

    id: int
    started_at: datetime
    finished_at: datetime
    mode: Literal["full", "incremental"]
    from_seq: int | None
    to_seq: int | None
    from_checkpoint_id: int | None
    through_checkpoint_id: int | None
    ok: bool
    first_invalid_seq: int | None
    problem: str | None
    events_checked: int
    checkpoints_checked: int
    key_id: str


class VerifyRunPage(BaseModel):
    items: list[VerifyRunOut]
    next_cursor: str | None


class AccessReportItem(BaseModel):
    at: datetime
    role: str | None
    actor: str | None
    action: str
    purpose: str | None
    fields: list[str]
    outcome: str
    reason: str | None


class AccessReport(BaseModel):
    customer_id: uuid.UUID
    items: list[AccessReportItem]
    next_cursor: str | None
