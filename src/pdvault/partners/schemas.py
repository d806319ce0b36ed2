from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from pdvault.customers.schemas import FieldName
from pdvault.db import AwareUTC
from pdvault.documents.schemas import ORDER_REF_PATTERN

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Mode = Literal["plain", "masked"]
PartnerPurpose = Literal["order_fulfillment"]


class PartnerIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Giao Hàng Mẫu", "contract_ref": "HD-2026-001"}]},
    )

    name: Text
    contract_ref: Text


_PARTNER_ID = "0190f3a0-0000-7000-8000-0000000000c1"


class PartnerOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _PARTNER_ID,
                    "name": "Giao Hàng Mẫu",
                    "contract_ref": "HD-2026-001",
                    "created_at": "2026-01-01T00:00:00Z",
                }
            ]
        }
    )

    id: uuid.UUID
    name: str
    contract_ref: str
    created_at: datetime


class PartnerPage(BaseModel):
    items: list[PartnerOut]
    next_cursor: str | None


class GrantIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "contract_ref": "HD-2026-001",
                    "purposes": ["order_fulfillment"],
                    "fields": {"full_name": "masked", "phone": "plain", "address": "plain"},
                    "valid_from": "2026-01-01T00:00:00Z",
                    "valid_until": "2027-01-01T00:00:00Z",
                }
            ]
        },
    )

    contract_ref: Text
    purposes: list[PartnerPurpose] = Field(min_length=1, max_length=4)
    fields: dict[FieldName, Mode] = Field(min_length=1)
    valid_from: AwareUTC
    valid_until: AwareUTC

    @model_validator(mode="after")
    def _window(self) -> GrantIn:
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class GrantOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0190f3a0-0000-7000-8000-0000000000d1",
                    "partner_id": _PARTNER_ID,
                    "contract_ref": "HD-2026-001",
                    "purposes": ["order_fulfillment"],
                    "fields": {"full_name": "masked", "phone": "plain", "address": "plain"},
                    "valid_from": "2026-01-01T00:00:00Z",
                    "valid_until": "2027-01-01T00:00:00Z",
                    "created_at": "2026-01-01T00:00:00Z",
                    "revoked_at": None,
                }
            ]
        }
    )

    id: uuid.UUID
    partner_id: uuid.UUID
    contract_ref: str
    purposes: list[str]
    fields: dict[str, str]
    valid_from: datetime
    valid_until: datetime
    created_at: datetime
    revoked_at: datetime | None


class GrantPage(BaseModel):
    items: list[GrantOut]
    next_cursor: str | None


class AssignmentIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "0190f3a0-0000-7000-8000-000000000001",
                    "purpose": "order_fulfillment",
                    "reference": "DH-000123",
                    "expires_at": "2026-12-31T00:00:00Z",
                }
            ]
        },
    )

    customer_id: uuid.UUID
    purpose: PartnerPurpose
    # An order or job number, like a document's order_ref: no spaces, so no name and phone
    # typed in (it is kept in clear; an erasure replaces it).
    reference: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True,
            min_length=1,
            max_length=100,
            pattern=f"^{ORDER_REF_PATTERN.pattern}$",
        ),
        Field(description="The order or job number: letters, digits, '.', '_', '/' or '-'."),
    ]
    expires_at: AwareUTC


class AssignmentOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0190f3a0-0000-7000-8000-0000000000e1",
                    "partner_id": _PARTNER_ID,
                    "customer_id": "0190f3a0-0000-7000-8000-000000000001",
                    "purpose": "order_fulfillment",
                    "reference": "DH-000123",
                    "expires_at": "2026-12-31T00:00:00Z",
                    "created_at": "2026-11-01T00:00:00Z",
                    "revoked_at": None,
                }
            ]
        }
    )

    id: uuid.UUID
    partner_id: uuid.UUID
    customer_id: uuid.UUID
    purpose: str
    reference: str
    expires_at: datetime
    created_at: datetime
    revoked_at: datetime | None


class AssignmentPage(BaseModel):
    items: list[AssignmentOut]
    next_cursor: str | None


class PartnerCustomerOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0190f3a0-0000-7000-8000-000000000001",
                    "purpose": "order_fulfillment",
                    "fields": {"full_name": "N. V. Mẫu", "phone": "*********001"},
                    "masked": ["full_name", "phone"],
                }
            ]
        }
    )

    id: uuid.UUID
    purpose: str
    fields: dict[str, str]
    masked: list[str]
