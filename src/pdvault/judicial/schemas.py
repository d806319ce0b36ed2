from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from pdvault.customers.schemas import FieldName
from pdvault.db import AwareUTC

AuthorityType = Literal["procuracy", "court", "police_investigation"]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Long = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]

EXAMPLE_REQUEST: dict[str, Any] = {
    "authority_type": "court",
    "authority_name": "Tòa án nhân dân Mẫu",
    "document_number": "123/2026/QĐ-MAU",
    "document_date": "2026-11-01",
    "legal_basis": "Điều mẫu, Bộ luật Tố tụng (ví dụ)",
    "case_reference": "VA-2026-0001",
    "customer_ids": ["0190f3a0-0000-7000-8000-000000000001"],
    "fields": ["full_name", "phone"],
    "valid_until": "2026-12-31T00:00:00Z",
}


class JudicialRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_REQUEST]})

    authority_type: AuthorityType
    authority_name: Short
    document_number: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ]
    document_date: date
    legal_basis: Long
    case_reference: Short
    customer_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)
    fields: list[FieldName] = Field(min_length=1, max_length=4)
    valid_until: AwareUTC


class JudicialRejectIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "Thiếu chữ ký"}]}
    )

    reason: Long


_REQUEST_OUT: dict[str, Any] = {
    "id": "0190f3a0-0000-7000-8000-0000000000f1",
    "status": "approved",
    "expired": False,
    **EXAMPLE_REQUEST,
    "filed_by": "0190f3a0-0000-7000-8000-0000000000f2",
    "filed_at": "2026-11-02T00:00:00Z",
    "decided_by": "0190f3a0-0000-7000-8000-0000000000f3",
    "decided_at": "2026-11-03T00:00:00Z",
    "rejection_reason": None,
}


class JudicialRequestOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_REQUEST_OUT]})

    id: uuid.UUID
    status: Literal["submitted", "approved", "rejected"]
    expired: bool
    authority_type: str
    authority_name: str
    document_number: str
    document_date: date
    legal_basis: str
    case_reference: str
    customer_ids: list[uuid.UUID]
    fields: list[str]
    valid_until: datetime
    filed_by: uuid.UUID
    filed_at: datetime
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    rejection_reason: str | None


class JudicialPage(BaseModel):
    items: list[JudicialRequestOut]
    next_cursor: str | None


class DisclosedCustomer(BaseModel):
    id: uuid.UUID
    fields: dict[str, str]


class WithheldCustomer(BaseModel):
    id: uuid.UUID
    reason: str


class Disclosure(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "request": _REQUEST_OUT,
                    "customers": [
                        {
                            "id": "0190f3a0-0000-7000-8000-000000000001",
                            "fields": {"full_name": "Nguyễn Văn Mẫu", "phone": "+84900000001"},
                        }
                    ],
                    "withheld": [],
                }
            ]
        }
    )

    request: JudicialRequestOut
    customers: list[DisclosedCustomer]
    withheld: list[WithheldCustomer]
