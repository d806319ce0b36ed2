"""Data upgrades: work a schema migration asks for but cannot do itself, because it needs the
keys (Alembic never holds them). A migration records a row here; ``pdvault migrate`` and
``pdvault init`` run every pending one with the keys, and ``pdvault serve`` refuses to start
while one is pending, so the API never serves a half-upgraded database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from pdvault.config import Settings
from pdvault.db import Base, UTCDateTime, has_table, make_engine, make_sessionmaker, utcnow


class DataUpgrade(Base):
    __tablename__ = "data_upgrades"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


async def pending_upgrades(session: AsyncSession) -> list[str]:
    rows = await session.scalars(
        select(DataUpgrade.name).where(DataUpgrade.done_at.is_(None)).order_by(DataUpgrade.name)
    )
    return list(rows)


async def mark_done(session: AsyncSession, name: str) -> None:
    await session.execute(
        update(DataUpgrade)
        .where(DataUpgrade.name == name, DataUpgrade.done_at.is_(None))
        .values(done_at=utcnow())
    )


async def pending_in(settings: Settings) -> list[str]:
    """The pending data upgrades of the configured database (none before it is migrated)."""
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            if not await has_table(conn, DataUpgrade.__tablename__):
                return []
        async with make_sessionmaker(engine)() as session:
            return await pending_upgrades(session)
    finally:
        await engine.dispose()
