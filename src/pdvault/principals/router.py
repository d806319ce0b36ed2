"""Administration endpoints (docs/api.md "Administration"): principals and tokens."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from pdvault.auth.principal import Actor
from pdvault.deps import RuntimeDep, SessionDep, require
from pdvault.openapi_docs import problems
from pdvault.pagination import Cursor, Limit
from pdvault.policy import Operation
from pdvault.principals import service
from pdvault.principals.schemas import (
    PrincipalIn,
    PrincipalOut,
    PrincipalPage,
    TokenCreated,
    TokenIn,
    TokenPage,
    TokenRevoked,
)

router = APIRouter(tags=["administration"])


@router.post(
    "/v1/principals",
    status_code=201,
    response_model=PrincipalOut,
    summary="Create a principal (admin); a name already taken is 409",
    responses=problems(401, 403, 409, 422, 503),
)
async def create_principal(
    body: PrincipalIn,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.PRINCIPAL_CREATE))],
) -> PrincipalOut:
    principal = await service.create_principal(session, body)
    await service.log_act(runtime, session, actor, Operation.PRINCIPAL_CREATE.value, principal.id)
    await session.commit()
    return service.principal_out(principal)


@router.get(
    "/v1/principals",
    response_model=PrincipalPage,
    summary="List principals (admin)",
    responses=problems(401, 403, 422, 503),
)
async def list_principals(
    session: SessionDep,
    _actor: Annotated[Actor, Depends(require(Operation.PRINCIPAL_LIST))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PrincipalPage:
    return await service.list_principals(session, limit, cursor)


@router.post(
    "/v1/principals/{principal_id}/disable",
    response_model=PrincipalOut,
    summary="Disable a principal: its tokens stop working (admin)",
    responses=problems(401, 403, 404, 422, 503),
)
async def disable_principal(
    principal_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.PRINCIPAL_DISABLE))],
) -> PrincipalOut:
    principal = await service.disable_principal(
        session, await service.principal_or_404(session, principal_id)
    )
    await service.log_act(runtime, session, actor, Operation.PRINCIPAL_DISABLE.value, principal.id)
    await session.commit()
    runtime.principals.clear()
    return service.principal_out(principal)


@router.post(
    "/v1/principals/{principal_id}/tokens",
    status_code=201,
    response_model=TokenCreated,
    summary="Issue a token for a principal; shown once (admin)",
    responses=problems(401, 403, 404, 409, 422, 503),
)
async def issue_token(
    principal_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.TOKEN_CREATE))],
    body: TokenIn | None = None,
) -> TokenCreated:
    principal = await service.principal_or_404(session, principal_id)
    days = body.expires_in_days if body is not None else runtime.settings.token_default_days
    created = await service.issue_token(session, principal, days, issued_by=actor.principal_id)
    await service.log_act(
        runtime, session, actor, Operation.TOKEN_CREATE.value, principal.id, created.id
    )
    await session.commit()
    return created


@router.get(
    "/v1/principals/{principal_id}/tokens",
    response_model=TokenPage,
    summary="List a principal's tokens: ids and dates, never the token (admin)",
    responses=problems(401, 403, 404, 422, 503),
)
async def list_tokens(
    principal_id: uuid.UUID,
    session: SessionDep,
    _actor: Annotated[Actor, Depends(require(Operation.TOKEN_LIST))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> TokenPage:
    principal = await service.principal_or_404(session, principal_id)
    return await service.list_tokens(session, principal.id, limit, cursor)


@router.post(
    "/v1/tokens/{token_id}/revoke",
    response_model=TokenRevoked,
    summary="Revoke a token (admin)",
    responses=problems(401, 403, 404, 422, 503),
)
async def revoke_token(
    token_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.TOKEN_REVOKE))],
) -> TokenRevoked:
    token = await service.token_or_404(session, token_id)
    revoked = await service.revoke_token(session, token)
    await service.log_act(
        runtime, session, actor, Operation.TOKEN_REVOKE.value, token.principal_id, token.id
    )
    await session.commit()
    runtime.principals.clear()
    return revoked
