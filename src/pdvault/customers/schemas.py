"""Request and response bodies for customers. Examples are fake data, clearly so."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
    model_validator,
)

from pdvault.customers import normalize
from pdvault.openapi_docs import PROBLEM_OR_NULL, purpose_schema
from pdvault.policy import Access, Operation

FieldName = Literal["full_name", "phone", "email", "address"]

FullName = Annotated[str, Field(max_length=2000), AfterValidator(normalize.full_name)]
Phone = Annotated[str, Field(max_length=64), AfterValidator(normalize.phone)]
Email = Annotated[str, Field(max_length=512), AfterValidator(normalize.email)]
Address = Annotated[str, Field(max_length=5000), AfterValidator(normalize.address)]
PolicyVersion = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w.\-:]+$")]

FAKE_CUSTOMER: dict[str, Any] = {
    "full_name": "Nguyễn Văn Mẫu",
    "phone": "0900 000 001",
    "email": "khach.mau@example.com",
    "address": "Số 1 Đường Ví Dụ, Phường Mẫu, Hà Nội",
    "consents": {"processing": True, "marketing": False},
    "policy_version": "2024-01",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ConsentFlags(Strict):
    # Strict: consent is JSON true, never a string or number coerced to it.
    processing: StrictBool
    marketing: StrictBool = False


class CustomerIn(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [FAKE_CUSTOMER]})

    full_name: FullName
    phone: Phone
    email: Email
    address: Address
    consents: ConsentFlags
    policy_version: PolicyVersion


class CustomerCreated(BaseModel):
    id: uuid.UUID
    created_at: datetime
    consents: dict[str, bool]


# Any JSON value: an item that is not an object is answered in its own result, like any bad item.
BatchItem = Annotated[Any, WithJsonSchema({"type": "object", "additionalProperties": True})]


class BatchIn(Strict):
    items: list[BatchItem] = Field(min_length=1)


class BatchResult(BaseModel):
    index: int
    status: int
    id: uuid.UUID | None = None
    problem: Annotated[dict[str, Any] | None, PROBLEM_OR_NULL] = None


class BatchOut(BaseModel):
    results: list[BatchResult]


class CustomerOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0190f3a0-0000-7000-8000-000000000001",
                    "purpose": "order_confirmation",
                    "fields": {k: FAKE_CUSTOMER[k] for k in ("full_name", "phone")},
                    "created_at": "2026-01-01T00:00:00Z",
                    "updated_at": "2026-01-01T00:00:00Z",
                    "version": 1,
                }
            ]
        }
    )

    id: uuid.UUID
    purpose: str
    fields: dict[str, str]
    created_at: datetime
    updated_at: datetime
    version: int


_SEARCH_WHY = "Why the data is read; GET /v1/policy lists who may use which (missing: 403)"


class SearchIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"phone": "0900 000 001", "purpose": "order_confirmation"}]
        },
    )

    email: Email | None = None
    phone: Phone | None = None
    # Required by the policy, not the schema: a missing purpose is refused 403
    # purpose_not_permitted and logged, like an unknown one (docs/decisions.md).
    purpose: Annotated[
        str | None,
        purpose_schema(Operation.CUSTOMER_SEARCH, Access.READ, _SEARCH_WHY),
        Field(min_length=1, max_length=64, description=_SEARCH_WHY),
    ] = None
    fields: list[FieldName] | None = Field(default=None, min_length=1, max_length=4)

    @model_validator(mode="after")
    def _exactly_one_key(self) -> SearchIn:
        if (self.email is None) == (self.phone is None):
            raise ValueError("give exactly one of email or phone")
        return self


class SearchHit(BaseModel):
    id: uuid.UUID
    fields: dict[str, str]


class SearchOut(BaseModel):
    items: list[SearchHit]


class CustomerPatch(Strict):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"address": "Số 2 Đường Ví Dụ, Hà Nội"}]}
    )

    full_name: FullName | None = None
    phone: Phone | None = None
    email: Email | None = None
    address: Address | None = None

    @model_validator(mode="after")
    def _something(self) -> CustomerPatch:
        if not self.model_fields_set:
            raise ValueError("give at least one of full_name, phone, email, address")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} may not be null")
        return self

    def changes(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump(exclude_unset=True).items() if v is not None}


class JustificationOut(BaseModel):
    """Issue 14.8: why a ``special_case_support`` read happened, as its reader wrote it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0193a5b0-7e2c-7d11-8c4a-5f0e00000071",
                    "request_id": "5f0e2b7c9a1d4e3f8a6b0c1d2e3f4a5b",
                    "customer_id": "0193a5b0-7e2c-7d11-8c4a-5f0e00000001",
                    "principal_id": "0193a5b0-7e2c-7d11-8c4a-5f0e00000011",
                    "action": "customer.read",
                    "at": "2026-11-25T10:00:00Z",
                    "justification": "Khiếu nại giao hàng trễ, phiếu HT-0000 (ví dụ)",
                }
            ]
        }
    )

    id: uuid.UUID
    request_id: str = Field(description="The request id of the read's access event")
    customer_id: uuid.UUID
    principal_id: uuid.UUID | None
    action: str
    at: datetime
    justification: str | None = Field(
        description="The X-Justification sent; null once the customer is erased"
    )


class JustificationPage(BaseModel):
    items: list[JustificationOut]
    next_cursor: str | None
