"""Bodies of the breach-register endpoints (R7.2)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from pdvault.db import AwareUTC

# What leaked: the four personal fields, or transaction documents.
DataCategory = Literal["full_name", "phone", "email", "address", "documents"]
MAX_NAMED_CUSTOMERS = 10_000
_EMAIL_LIKE = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_PHONE_LIKE = re.compile(r"(?<![\d])\+?\d(?:[ .-]?\d){8,}")

FAKE_BREACH = "0193a5b0-7e2c-7d11-8c4a-5f0e000000b1"
FAKE_DPO = "0193a5b0-7e2c-7d11-8c4a-5f0e000000d1"

EXAMPLE_BREACH: dict[str, Any] = {
    "detected_at": "2026-11-25T08:00:00Z",
    "summary": "Sao lưu mẫu bị truy cập trái phép (ví dụ).",
    "data_categories": ["full_name", "email"],
    "customer_ids": ["0193a5b0-7e2c-7d11-8c4a-5f0e00000001"],
}
EXAMPLE_AUTHORITY: dict[str, Any] = {
    "notified_at": "2026-11-26T08:00:00Z",
    "authority": "Cục An ninh mạng Mẫu (ví dụ)",
    "reference": "TB-MAU-2026-001",
}


class BreachIn(BaseModel):
    """Exactly one of ``customer_ids`` (each an existing customer) or ``all_customers: true``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_BREACH]})

    detected_at: AwareUTC
    summary: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ] = Field(description="What happened; no personal value belongs here")
    data_categories: list[DataCategory] = Field(min_length=1, max_length=5)
    customer_ids: list[uuid.UUID] | None = Field(
        default=None, min_length=1, max_length=MAX_NAMED_CUSTOMERS
    )
    all_customers: bool = False

    @field_validator("summary")
    @classmethod
    def _no_contact_values(cls, text: str) -> str:
        # Issue 14.10: the summary is about many people and stays clear text (it is what the
        # authority is told), so what it may hold is narrowed instead: nothing shaped like an
        # email address or a phone number (docs/decisions.md).
        if _EMAIL_LIKE.search(text) or _PHONE_LIKE.search(text):
            raise ValueError("may not contain an email address or a phone number")
        return text

    @model_validator(mode="after")
    def _one_scope(self) -> BreachIn:
        if (self.customer_ids is not None) == self.all_customers:
            raise ValueError("give exactly one of customer_ids or all_customers: true")
        return self


class AuthorityNotificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_AUTHORITY]})

    notified_at: AwareUTC
    authority: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)
    ]
    reference: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ]


_BREACH_OUT: dict[str, Any] = {
    "id": FAKE_BREACH,
    "detected_at": EXAMPLE_BREACH["detected_at"],
    "recorded_at": "2026-11-25T09:00:00Z",
    "recorded_by": FAKE_DPO,
    "summary": EXAMPLE_BREACH["summary"],
    "data_categories": EXAMPLE_BREACH["data_categories"],
    "all_customers": False,
    "affected_count": 1,
    "authority_due_at": "2026-11-28T08:00:00Z",
    "overdue": False,
    "authority_notified_at": EXAMPLE_AUTHORITY["notified_at"],
    "authority": EXAMPLE_AUTHORITY["authority"],
    "authority_reference": EXAMPLE_AUTHORITY["reference"],
    "authority_notified_late": False,
    "subjects_notified_at": None,
    "subject_notices": 0,
}


class BreachOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_BREACH_OUT]})

    id: uuid.UUID
    detected_at: datetime
    recorded_at: datetime
    recorded_by: uuid.UUID
    summary: str
    data_categories: list[DataCategory]
    all_customers: bool
    affected_count: int = Field(description="Customers named, or live customers when recorded")
    authority_due_at: datetime
    overdue: bool = Field(description="The authority is not notified and the deadline passed")
    authority_notified_at: datetime | None
    authority: str | None
    authority_reference: str | None
    authority_notified_late: bool | None = Field(description="Null until notified")
    subjects_notified_at: datetime | None = Field(description="Last subject fan-out")
    subject_notices: int = Field(description="Notices in the outbox for this breach")


class BreachDetail(BreachOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_BREACH_OUT, "customer_ids": EXAMPLE_BREACH["customer_ids"]}]
        }
    )

    customer_ids: list[uuid.UUID] | None = Field(description="Null when all customers")


class BreachPage(BaseModel):
    items: list[BreachOut]
    next_cursor: str | None


class SubjectNotificationsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "breach_id": FAKE_BREACH,
                    "queued": 1,
                    "already_queued": 0,
                    "skipped_erased": 0,
                    "notices": 1,
                }
            ]
        }
    )

    breach_id: uuid.UUID
    queued: int = Field(description="Notices added by this call")
    already_queued: int = Field(description="Customers whose notice was already there")
    skipped_erased: int = Field(description="Named customers erased since: nobody to notify")
    notices: int = Field(description="Notices for this breach in the outbox after the call")
