"""`alembic upgrade head` on an empty database yields exactly the schema the models declare;
downgrade removes it; upgrade works again. On each engine."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from pdvault.db import make_engine
from pdvault.migrate import current_revision, downgrade, head_revision, upgrade
from pdvault.models import Base


async def _admin(url: str, sql: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@pytest.fixture
async def fresh_url(database_url: str, engine_name: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database on the same engine (and server) as ``database_url``."""
    if engine_name == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    name = f"pdvault_migr_{secrets.token_hex(4)}"
    server = make_url(database_url)
    await _admin(database_url, f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _inspect(url: str) -> dict[str, Any]:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:

            def read(sync_conn: Connection) -> dict[str, Any]:
                context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return {
                    "diff": compare_metadata(context, Base.metadata),
                    "tables": set(inspect(sync_conn).get_table_names()),
                }

            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def test_upgrade_matches_models_and_downgrade_works(fresh_url: str) -> None:
    model_tables = set(Base.metadata.tables)
    assert {"customers", "access_events", "principals", "tokens"} <= model_tables

    empty = await _inspect(fresh_url)
    assert empty["tables"] == set()

    await asyncio.to_thread(upgrade, fresh_url)
    state = await _inspect(fresh_url)
    assert state["diff"] == []
    assert model_tables <= state["tables"]
    assert state["tables"] - model_tables == {"alembic_version"}
    assert await asyncio.to_thread(current_revision, fresh_url) == head_revision()

    await asyncio.to_thread(downgrade, fresh_url, "base")
    state = await _inspect(fresh_url)
    assert state["tables"] <= {"alembic_version"}
    assert await asyncio.to_thread(current_revision, fresh_url) is None

    await asyncio.to_thread(upgrade, fresh_url)
    state = await _inspect(fresh_url)
    assert state["diff"] == []
    assert model_tables <= state["tables"]

    # Running it again at head changes nothing.
    await asyncio.to_thread(upgrade, fresh_url)
    assert (await _inspect(fresh_url))["diff"] == []


async def test_the_test_database_is_at_head(database_url: str) -> None:
    """The shared fixture database was built by the migrations too, and matches the models."""
    state = await _inspect(database_url)
    assert state["diff"] == []
    assert await asyncio.to_thread(current_revision, database_url) == head_revision()
