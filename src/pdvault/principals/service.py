"""Principals and their tokens. Tokens are shown once and stored only as SHA-256."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.auth.tokens import hash_token, new_token
from pdvault.db import new_id, utcnow
from pdvault.errors import Conflict, NotFound, Unprocessable
from pdvault.pagination import split_page, uuid_after
from pdvault.partners.models import Partner
from pdvault.principals.models import Principal, Token
from pdvault.principals.schemas import (
    PrincipalIn,
    PrincipalOut,
    PrincipalPage,
    TokenCreated,
    TokenOut,
    TokenPage,
    TokenRevoked,
)
from pdvault.runtime import Runtime


def principal_out(p: Principal) -> PrincipalOut:
    return PrincipalOut.model_validate(p, from_attributes=True)


async def create_principal(session: AsyncSession, data: PrincipalIn) -> Principal:
    if data.partner_id is not None and await session.get(Partner, data.partner_id) is None:
        raise Unprocessable(
            "partner_id names no partner.",
            errors=[{"loc": ["body", "partner_id"], "msg": "unknown partner"}],
        )
    await _refuse_taken_name(session, data.name)
    principal = Principal(
        id=new_id(),
        name=data.name,
        role=data.role.value,
        partner_id=data.partner_id,
        created_at=utcnow(),
    )
    session.add(principal)
    try:
        await session.flush()
    except IntegrityError:
        # Another request took the name between the look-up and the insert (the unique
        # constraint decides): the same answer as when the look-up saw it.
        await session.rollback()
        await _refuse_taken_name(session, data.name)
        raise
    return principal


async def _refuse_taken_name(session: AsyncSession, name: str) -> None:
    """A principal's name is unique (docs/decisions.md): a second one is 409, naming the first."""
    existing = await session.scalar(select(Principal.id).where(Principal.name == name))
    if existing is not None:
        raise Conflict(
            "A principal with this name already exists.",
            reason="duplicate_principal",
            existing_id=str(existing),
        )


async def list_principals(session: AsyncSession, limit: int, cursor: str | None) -> PrincipalPage:
    query = select(Principal).order_by(Principal.id).limit(limit + 1)
    after = uuid_after(cursor)
    if after is not None:
        query = query.where(Principal.id > after)
    rows, next_cursor = split_page((await session.scalars(query)).all(), limit, lambda p: p.id)
    return PrincipalPage(items=[principal_out(p) for p in rows], next_cursor=next_cursor)


async def list_tokens(
    session: AsyncSession, principal_id: uuid.UUID, limit: int, cursor: str | None
) -> TokenPage:
    """A principal's tokens by id (creation order), revoked and expired ones too."""
    query = (
        select(Token).where(Token.principal_id == principal_id).order_by(Token.id).limit(limit + 1)
    )
    after = uuid_after(cursor)
    if after is not None:
        query = query.where(Token.id > after)
    rows, next_cursor = split_page((await session.scalars(query)).all(), limit, lambda t: t.id)
    return TokenPage(items=[token_out(t) for t in rows], next_cursor=next_cursor)


def token_out(token: Token) -> TokenOut:
    return TokenOut(
        id=token.id,
        principal_id=token.principal_id,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
    )


async def disable_principal(session: AsyncSession, principal: Principal) -> Principal:
    if principal.disabled_at is None:
        principal.disabled_at = utcnow()
    await session.flush()
    return principal


async def principal_or_404(session: AsyncSession, principal_id: uuid.UUID) -> Principal:
    principal = await session.get(Principal, principal_id)
    if principal is None:
        raise NotFound("No such principal.")
    return principal


async def token_or_404(session: AsyncSession, token_id: uuid.UUID) -> Token:
    token = await session.get(Token, token_id)
    if token is None:
        raise NotFound("No such token.")
    return token


async def issue_token(
    session: AsyncSession,
    principal: Principal,
    days: int,
    *,
    issued_by: uuid.UUID | None = None,
) -> TokenCreated:
    """A new token for ``principal``; ``issued_by`` is the principal issuing it through the
    API (None on the host: ``pdvault init``, ``pdvault token create``). A disabled principal
    is refused (409 ``principal_disabled``)."""
    if principal.disabled_at is not None:
        raise Conflict("The principal is disabled.", reason="principal_disabled")
    token = new_token()
    row = Token(
        id=new_id(),
        principal_id=principal.id,
        issued_by=issued_by,
        token_hash=hash_token(token),
        created_at=utcnow(),
        expires_at=utcnow() + timedelta(days=days),
    )
    session.add(row)
    await session.flush()
    return TokenCreated(
        id=row.id, token=token, expires_at=row.expires_at, principal_id=principal.id
    )


async def revoke_token(session: AsyncSession, token: Token) -> TokenRevoked:
    revoked_at = token.revoked_at or utcnow()
    token.revoked_at = revoked_at
    await session.flush()
    return TokenRevoked(id=token.id, principal_id=token.principal_id, revoked_at=revoked_at)


async def log_act(
    runtime: Runtime,
    session: AsyncSession,
    actor: Actor,
    action: str,
    principal_id: uuid.UUID,
    token_id: uuid.UUID | None = None,
) -> None:
    """An administrator's act on a principal or token, as the access log keeps it: the actor
    (principal and token) and what it was about, by id (the API's routes and the console's
    administrator's desk write the same event)."""
    await runtime.audit.append(
        session,
        actor,
        EventDraft(
            action=action,
            outcome=ALLOWED,
            target_principal_id=principal_id,
            target_token_id=token_id,
        ),
    )
