"""Bodies of the complaint endpoints (docs/api.md "Complaints, breaches, notices")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Category = Literal["misuse", "unauthorized_access", "security_report", "data_accuracy", "other"]
Channel = Literal["storefront", "email", "hotline", "in_person", "letter", "other"]
Status = Literal["received", "investigating", "upheld", "rejected", "closed"]
# R7.4 names the first; the others let a rejection say why without free text.
RejectionGround = Literal["inaccurate_registration_data", "unfounded", "outside_policy", "other"]

Text5000 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
Text500 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]

FAKE_ID = "0193a5b0-7e2c-7d11-8c4a-5f0e000000c1"
FAKE_CUSTOMER = "0193a5b0-7e2c-7d11-8c4a-5f0e00000001"
FAKE_DPO = "0193a5b0-7e2c-7d11-8c4a-5f0e000000d1"

EXAMPLE_COMPLAINT: dict[str, Any] = {
    "customer_id": FAKE_CUSTOMER,
    "category": "misuse",
    "channel": "hotline",
    "description": "Tôi nhận được email quảng cáo dù đã rút đồng ý (ví dụ).",
    "contact": "khach.mau@example.com",
}
EXAMPLE_TRANSITION: dict[str, Any] = {
    "to": "investigating",
    "note": "Đã tiếp nhận, kiểm tra nhật ký truy cập (ví dụ).",
    "measures": None,
    "evidence_event_ids": [42],
}


class ComplaintIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_COMPLAINT]})

    customer_id: uuid.UUID | None = None
    category: Category
    channel: Channel
    description: Text5000
    contact: Text500 | None = None


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_TRANSITION]})

    to: Status
    note: Text5000
    measures: Text5000 | None = None
    evidence_event_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        default_factory=list, max_length=100, description="`seq` of access events"
    )
    rejection_ground: RejectionGround | None = Field(
        default=None, description="Only with `to: rejected` (R7.4)"
    )


class TransitionOut(BaseModel):
    step: int
    from_status: Status
    to_status: Status
    at: datetime
    by: uuid.UUID
    evidence_event_ids: list[int]
    rejection_ground: RejectionGround | None
    measures_recorded: bool
    note: str | None = Field(description="The DPO's note; null for the auditor or once shredded")
    measures: str | None = Field(description="Measures taken; null for the auditor")


_SUMMARY_EXAMPLE: dict[str, Any] = {
    "id": FAKE_ID,
    "customer_id": FAKE_CUSTOMER,
    "category": "misuse",
    "channel": "hotline",
    "status": "investigating",
    "received_at": "2026-11-25T10:00:00Z",
    "due_at": "2026-12-25T10:00:00Z",
    "overdue": False,
    "decided_at": None,
    "closed_at": None,
    "rejection_ground": None,
    "filed_by": FAKE_DPO,
    "shredded": False,
}
_TRANSITION_EXAMPLE: dict[str, Any] = {
    "step": 1,
    "from_status": "received",
    "to_status": "investigating",
    "at": "2026-11-26T09:00:00Z",
    "by": FAKE_DPO,
    "evidence_event_ids": [42],
    "rejection_ground": None,
    "measures_recorded": False,
    "note": "Đã tiếp nhận, kiểm tra nhật ký truy cập (ví dụ).",
    "measures": None,
}


class ComplaintSummary(BaseModel):
    """A complaint's metadata: what every reader (dpo, auditor) may see."""

    model_config = ConfigDict(json_schema_extra={"examples": [_SUMMARY_EXAMPLE]})

    id: uuid.UUID
    customer_id: uuid.UUID | None
    category: Category
    channel: Channel
    status: Status
    received_at: datetime
    due_at: datetime
    overdue: bool = Field(description="Not yet answered (received, investigating) and past due")
    decided_at: datetime | None = Field(description="When it was upheld or rejected")
    closed_at: datetime | None
    rejection_ground: RejectionGround | None
    filed_by: uuid.UUID
    shredded: bool = Field(description="Its customer was erased: the free text is gone")


class ComplaintOut(ComplaintSummary):
    """One complaint with its history; the free text only for the DPO."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_SUMMARY_EXAMPLE,
                    "description": EXAMPLE_COMPLAINT["description"],
                    "contact": EXAMPLE_COMPLAINT["contact"],
                    "history": [_TRANSITION_EXAMPLE],
                }
            ]
        }
    )

    description: str | None = Field(description="Null for the auditor, or once shredded")
    contact: str | None = Field(description="Null for the auditor, if none, or once shredded")
    history: list[TransitionOut]


class ComplaintPage(BaseModel):
    items: list[ComplaintSummary]
    next_cursor: str | None
