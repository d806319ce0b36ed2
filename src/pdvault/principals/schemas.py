from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from pdvault.policy import Role

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class PrincipalIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "storefront-backend", "role": "storefront"}]},
    )

    name: Name
    role: Role
    partner_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _partner_link(self) -> PrincipalIn:
        if (self.role is Role.PARTNER) != (self.partner_id is not None):
            raise ValueError("partner_id is required for the partner role and only for it")
        return self


class PrincipalOut(BaseModel):
    id: uuid.UUID
    name: str
    role: Role
    partner_id: uuid.UUID | None
    created_at: datetime
    disabled_at: datetime | None


class PrincipalPage(BaseModel):
    items: list[PrincipalOut]
    next_cursor: str | None


class TokenIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"expires_in_days": 90}]}
    )

    expires_in_days: int = Field(default=90, ge=1, le=3650)


class TokenCreated(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0190f3a0-0000-7000-8000-00000000000a",
                    "token": "pdv_EXAMPLE-ONLY-not-a-real-token-000000000000000",  # fake  # nosec B105
                    "expires_at": "2027-01-01T00:00:00Z",
                }
            ]
        }
    )

    id: uuid.UUID
    token: str
    expires_at: datetime
    principal_id: uuid.UUID


class TokenRevoked(BaseModel):
    id: uuid.UUID
    principal_id: uuid.UUID
    revoked_at: datetime


class TokenOut(BaseModel):
    """A token as listed: when it was made, when it ends. Never the token nor its hash."""

    id: uuid.UUID
    principal_id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class TokenPage(BaseModel):
    items: list[TokenOut]
    next_cursor: str | None
