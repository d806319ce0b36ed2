"""Creating principals from the command line (first admin, scripted tokens)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from pdvault.config import Settings
from pdvault.db import has_table, make_engine, one_off_session
from pdvault.errors import NotFound
from pdvault.policy import Role
from pdvault.principals import service
from pdvault.principals.models import Principal, Token
from pdvault.principals.schemas import PrincipalIn, TokenCreated, TokenRevoked


async def database_in_use(settings: Settings) -> bool:
    """True when the database already holds principals (so data and log under some keyring)."""
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            if not await has_table(conn, Principal.__tablename__):
                return False
            return await conn.scalar(select(Principal.id).limit(1)) is not None
    finally:
        await engine.dispose()


async def ensure_first_admin(settings: Settings) -> str | None:
    """A token for a new admin principal, or None when an admin already exists."""
    async with one_off_session(settings.effective_database_url) as session:
        existing = await session.scalar(
            select(Principal.id).where(Principal.role == Role.ADMIN.value).limit(1)
        )
        if existing is not None:
            return None
        principal = await service.create_principal(
            session, PrincipalIn(name="first-admin", role=Role.ADMIN)
        )
        created = await service.issue_token(session, principal, settings.token_default_days)
        await session.commit()
        return created.token


async def create_principal_with_token(settings: Settings, data: PrincipalIn, days: int) -> str:
    """A new principal's token (only the secret: for scripts and tests)."""
    return (await create_principal_and_token(settings, data, days)).token


async def create_principal_and_token(
    settings: Settings, data: PrincipalIn, days: int
) -> TokenCreated:
    """A new principal and its first token: the token's id, principal, expiry and secret."""
    async with one_off_session(settings.effective_database_url) as session:
        principal = await service.create_principal(session, data)
        created = await service.issue_token(session, principal, days)
        await session.commit()
        return created


async def list_tokens(
    settings: Settings, principal_id: uuid.UUID | None = None
) -> list[dict[str, Any]]:
    """Every token (or one principal's), with its principal's name and role; never a secret."""
    async with one_off_session(settings.effective_database_url) as session:
        if principal_id is not None and await session.get(Principal, principal_id) is None:
            raise NotFound("no such principal")
        query = (
            select(Token, Principal.name, Principal.role)
            .join(Principal, Principal.id == Token.principal_id)
            .order_by(Token.id)
        )
        if principal_id is not None:
            query = query.where(Token.principal_id == principal_id)
        return [
            {
                **service.token_out(token).model_dump(mode="json"),
                "principal_name": name,
                "role": role,
            }
            for token, name, role in (await session.execute(query)).all()
        ]


async def revoke_token(settings: Settings, token_id: uuid.UUID) -> TokenRevoked:
    async with one_off_session(settings.effective_database_url) as session:
        token = await session.get(Token, token_id)
        if token is None:
            raise NotFound("no such token")
        revoked = await service.revoke_token(session, token)
        await session.commit()
        return revoked
