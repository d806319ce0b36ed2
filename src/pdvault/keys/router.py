"""Key status for operators (docs/api.md ``GET /v1/admin/keys``). Never shows key material."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.deps import RuntimeDep, SessionDep, require
from pdvault.keys.rotation import key_usage
from pdvault.openapi_docs import problems
from pdvault.policy import Operation

router = APIRouter(tags=["administration"])


class KeyVersion(BaseModel):
    version: int
    primary: bool
    customer_keys: int
    data_keys: int  # every table's (customers, documents, complaints …)
    held: bool  # the provider still has this version


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
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.KEYS_STATUS))],
) -> KeyStatus:
    usage = await key_usage(session)
    await runtime.audit.append(
        session, actor, EventDraft(action=Operation.KEYS_STATUS.value, outcome=ALLOWED)
    )
    await session.commit()
    primary = runtime.keys.primary_version
    held = set(runtime.keys.versions())
    return KeyStatus(
        provider=runtime.keys.name,
        primary_version=primary,
        versions=[
            KeyVersion(
                version=v,
                primary=v == primary,
                customer_keys=usage.by_version.get(v, {}).get("customers", 0),
                data_keys=usage.total(v),
                held=v in held,
            )
            for v in sorted(held | set(usage.by_version))
        ],
    )
