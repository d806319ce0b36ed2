"""Creating principals from the command line (first admin, scripted tokens)."""

from __future__ import annotations

from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection

from pdvault.config import Settings
from pdvault.db import make_engine, make_sessionmaker
from pdvault.policy import Role
from pdvault.principals import service
from pdvault.principals.models import Principal
from pdvault.principals.schemas import PrincipalIn


async def database_in_use(settings: Settings) -> bool:
    """True when the database already holds principals (so data and log under some keyring)."""
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with engine.connect() as conn:

            def has_table(sync_conn: Connection) -> bool:
                return inspect(sync_conn).has_table(Principal.__tablename__)

            if not await conn.run_sync(has_table):
                return False
            return await conn.scalar(select(Principal.id).limit(1)) is not None
    finally:
        await engine.dispose()


async def ensure_first_admin(settings: Settings) -> str | None:
    """A token for a new admin principal, or None when an admin already exists."""
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
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
    finally:
        await engine.dispose()


async def create_principal_with_token(settings: Settings, data: PrincipalIn, days: int) -> str:
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            principal = await service.create_principal(session, data)
            created = await service.issue_token(session, principal, days)
            await session.commit()
            return created.token
    finally:
        await engine.dispose()
