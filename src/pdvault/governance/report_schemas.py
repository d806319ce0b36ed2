"""The compliance report (docs/api.md "Reports"): one window, every figure counted in SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AccessCount(BaseModel):
    role: str | None
    purpose: str | None = Field(description="Null for governance and administrative actions")
    count: int


class DenialCount(BaseModel):
    reason: str | None
    count: int


class DeletionFigures(BaseModel):
    received: int = Field(description="Requested in the window")
    executed_on_time: int
    executed_late: int
    rejected_on_time: int
    rejected_late: int
    on_time: int = Field(description="Decided in the window by their due date")
    late: int = Field(description="Decided in the window after their due date")
    overdue: int = Field(description="Undecided and past due at `as_of`")


class ComplaintFigures(BaseModel):
    received: int = Field(description="Received in the window")
    by_status: dict[str, int] = Field(description="Of those received, their status now")
    by_category: dict[str, int]
    upheld_on_time: int
    upheld_late: int
    rejected_on_time: int
    rejected_late: int
    rejected_by_ground: dict[str, int] = Field(description="`none` when no ground was cited")
    answered_on_time: int = Field(description="Upheld or rejected in the window by the due date")
    answered_late: int
    overdue: int = Field(description="Unanswered and past due at `as_of`")


class BreachFigures(BaseModel):
    detected: int = Field(description="Detected in the window")
    affected_customers: int
    authority_on_time: int
    authority_late: int
    authority_overdue: int = Field(description="Not notified by `as_of`, past the deadline")
    authority_pending: int = Field(description="Not notified by `as_of`, deadline not reached")
    subjects_notified: int = Field(description="Breaches whose subject notices were queued")


class JudicialFigures(BaseModel):
    authority_type: str
    requests: int = Field(description="Requests under which data was disclosed")
    disclosures: int = Field(description="Customer disclosures (access events)")


_EXAMPLE: dict[str, Any] = {
    "since": "2026-11-01T00:00:00Z",
    "until": "2026-12-01T00:00:00Z",
    "as_of": "2026-12-01T00:00:00Z",
    "generated_at": "2026-12-01T08:00:00Z",
    "accesses": [{"role": "employee", "purpose": "order_confirmation", "count": 120}],
    "denials": [{"reason": "consent_missing", "count": 3}],
    "deletion_requests": {
        "received": 4,
        "executed_on_time": 2,
        "executed_late": 1,
        "rejected_on_time": 1,
        "rejected_late": 0,
        "on_time": 3,
        "late": 1,
        "overdue": 0,
    },
    "complaints": {
        "received": 2,
        "by_status": {"investigating": 1, "closed": 1},
        "by_category": {"misuse": 2},
        "upheld_on_time": 1,
        "upheld_late": 0,
        "rejected_on_time": 0,
        "rejected_late": 0,
        "rejected_by_ground": {},
        "answered_on_time": 1,
        "answered_late": 0,
        "overdue": 0,
    },
    "breaches": {
        "detected": 1,
        "affected_customers": 10,
        "authority_on_time": 1,
        "authority_late": 0,
        "authority_overdue": 0,
        "authority_pending": 0,
        "subjects_notified": 1,
    },
    "judicial_disclosures": [{"authority_type": "court", "requests": 1, "disclosures": 2}],
}


class ComplianceReport(BaseModel):
    """Counts over ``[since, until)``; "overdue" and "pending" figures are as of ``as_of``,
    the earlier of ``until`` and the time of the report."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    since: datetime
    until: datetime
    as_of: datetime
    generated_at: datetime
    accesses: list[AccessCount] = Field(description="Allowed events by role and purpose")
    denials: list[DenialCount] = Field(description="Denied events by reason")
    deletion_requests: DeletionFigures
    complaints: ComplaintFigures
    breaches: BreachFigures
    judicial_disclosures: list[JudicialFigures]


CSV_EXAMPLE = (
    "section,key,value\r\n"
    "report,since,2026-11-01T00:00:00Z\r\n"
    "accesses,employee/order_confirmation,120\r\n"
    "denials,consent_missing,3\r\n"
    "deletion_requests,on_time,3\r\n"
    "complaints,by_status.closed,1\r\n"
    "breaches,authority_on_time,1\r\n"
    "judicial_disclosures,court.disclosures,2\r\n"
)
