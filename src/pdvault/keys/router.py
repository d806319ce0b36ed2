"""Key status for operators (API.md ``GET /v1/admin/keys``). Never shows key material."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import func, select

from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.customers.models import Customer
from pdvault.deps import SessionDep, VaultDep, require
from pdvault.openapi_docs import problems
from pdvault.policy import Operation

router = APIRouter(tags=["administration"])


class KeyVersion(BaseModel):
    version: int
    primary: bool
    customer_keys: int


class KeyStatus(BaseModel):
    provider: str
    primary_version: int
    versions: list[KeyVersion]


@router.get(
    "/v1/admin/keys",
    response_model=KeyStatus,
    summary="Key versions, the primary, and how many customer keys each wraps (admin)",
    responses=problems(401, 403, 503),
)
async def key_status(
    vault: VaultDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.KEYS_STATUS))],
) -> KeyStatus:
    counts = dict(
        (
            await session.execute(
                select(Customer.kek_version, func.count())
                .where(Customer.kek_version.is_not(None))
                .group_by(Customer.kek_version)
            )
        ).all()
    )
    await vault.audit.record(
        session, actor, EventDraft(action=Operation.KEYS_STATUS.value, outcome=ALLOWED)
    )
    await session.commit()
    primary = vault.keys.primary_version
    versions = sorted(set(vault.keys.versions()) | {v for v in counts if v is not None})
    return KeyStatus(
        provider=vault.keys.name,
        primary_version=primary,
        versions=[
            KeyVersion(version=v, primary=v == primary, customer_keys=int(counts.get(v, 0)))
            for v in versions
        ],
    )
