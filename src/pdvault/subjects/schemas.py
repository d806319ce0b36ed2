"""Bodies of the data-subject rights endpoints: consents and the export. Examples are fake."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from pdvault.audit.schemas import AccessReportItem
from pdvault.customers.schemas import PolicyVersion
from pdvault.documents.schemas import DocumentOut
from pdvault.governance.complaint_schemas import ComplaintOut
from pdvault.notifications.schemas import NotificationOut

ConsentKind = Literal["processing", "marketing"]
# How a data-subject request reached the shop.
# A reference number: letters, digits and the separators such numbers use; no free text.
REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._:/#-]*$"
Channel = Literal["storefront", "email", "hotline", "letter", "in_person", "other"]
Source = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.\-:]+$")]

_CID = "0193a5b0-7e2c-7d11-8c4a-5f0e00000001"
FAKE_CONSENT_IN: dict[str, Any] = {
    "kind": "marketing",
    "granted": True,
    "source": "storefront_settings",
    "policy_version": "2024-01",
}
FAKE_CONSENT: dict[str, Any] = {
    "id": "0193a5b0-7e2c-7d11-8c4a-5f0e00000011",
    "customer_id": _CID,
    **FAKE_CONSENT_IN,
    "recorded_at": "2026-11-25T10:00:00Z",
    "recorded_by": "0193a5b0-7e2c-7d11-8c4a-5f0e000000a1",
}


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [FAKE_CONSENT_IN]})

    kind: ConsentKind
    granted: StrictBool
    source: Source = Field(description="Where the choice was made: a short code, not free text")
    policy_version: PolicyVersion


class ConsentRecord(BaseModel):
    """One entry of the append-only history."""

    model_config = ConfigDict(json_schema_extra={"examples": [FAKE_CONSENT]})

    id: uuid.UUID
    customer_id: uuid.UUID
    kind: str
    granted: bool
    source: str
    policy_version: str
    recorded_at: datetime
    recorded_by: uuid.UUID | None


class ConsentState(BaseModel):
    processing: bool
    marketing: bool


class ConsentsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": _CID,
                    "current": {"processing": True, "marketing": True},
                    "history": [FAKE_CONSENT],
                }
            ]
        }
    )

    customer_id: uuid.UUID
    current: ConsentState
    history: list[ConsentRecord]


class ConsentRecorded(ConsentRecord):
    current: ConsentState


class AssignmentHeld(BaseModel):
    """A job that handed this customer to a contracted partner (§4), named by the partner."""

    partner: str
    purpose: str
    reference: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class DeletionRequestHeld(BaseModel):
    id: uuid.UUID
    channel: str
    status: str
    requested_at: datetime
    due_at: datetime
    decided_at: datetime | None
    note: str | None = None
    rejection_reason: str | None = None


class AccessRequestHeld(BaseModel):
    id: uuid.UUID
    channel: str
    status: str
    requested_at: datetime
    due_at: datetime
    decided_at: datetime | None
    rejection_reason: str | None = None


class CustomerRecord(BaseModel):
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    version: int
    policy_version: str


class Export(BaseModel):
    """Everything pdvault holds about one person (R6.1), in one document."""

    exported_at: datetime
    purpose: str
    customer: CustomerRecord
    fields: dict[str, str]
    consents: ConsentsOut
    access_report: list[AccessReportItem]
    documents: list[DocumentOut]
    deletion_requests: list[DeletionRequestHeld]
    access_requests: list[AccessRequestHeld]
    complaints: list[ComplaintOut]
    partner_assignments: list[AssignmentHeld]
    notifications: list[NotificationOut]


class RejectionIn(BaseModel):
    # Why a data subject's request is refused. Each kind of request has its own body class
    # (AccessRejectIn, erasure's DeletionRejectIn), so the contract names one schema per use.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "Yêu cầu trùng lặp (ví dụ)"}]},
    )

    reason: str = Field(
        min_length=1, max_length=500, description="Shown to auditors: no personal data here"
    )


class AccessRejectIn(RejectionIn):
    pass


_AREQ: dict[str, Any] = {
    "id": "0193a5b0-7e2c-7d11-8c4a-5f0e00000041",
    "customer_id": _CID,
    "channel": "letter",
    "reference": "CV-2026-0412",
    "status": "pending",
    "requested_at": "2026-11-25T10:00:00Z",
    "due_at": "2026-11-28T10:00:00Z",
    "decided_at": None,
    "overdue": False,
    "rejection_reason": None,
}


class AccessRequestIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"customer_id": _CID, "channel": "letter", "reference": "CV-2026-0412"}]
        },
    )

    customer_id: uuid.UUID
    channel: Channel
    reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        pattern=REFERENCE_PATTERN,
        description=(
            "The person's own request this records: a letter number, ticket or message id "
            "(no personal data). Required when the dpo files (the request must come from "
            "the person, not from staff)."
        ),
    )


class AccessRequestOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_AREQ]})

    id: uuid.UUID
    customer_id: uuid.UUID
    channel: str
    reference: str | None = None
    status: str
    requested_at: datetime
    due_at: datetime
    decided_at: datetime | None
    overdue: bool
    rejection_reason: str | None = None


class AccessRequestPage(BaseModel):
    items: list[AccessRequestOut]
    next_cursor: str | None
