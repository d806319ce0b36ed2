"""Running Alembic from code: used by ``pdvault migrate``, ``pdvault init`` and the tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

import pdvault
from pdvault.config import Settings
from pdvault.db import make_engine


class MigrationsNotFoundError(Exception):
    pass


def script_location(settings: Settings | None = None) -> Path:
    candidates = []
    if settings is not None and settings.migrations_dir is not None:
        candidates.append(settings.migrations_dir)
    candidates.append(Path(pdvault.__file__).resolve().parents[2] / "migrations")  # source tree
    candidates.append(Path.cwd() / "migrations")  # the container's /app
    for candidate in candidates:
        if (candidate / "env.py").is_file():
            return candidate
    raise MigrationsNotFoundError(
        "migrations not found: set PDVAULT_MIGRATIONS_DIR to the migrations folder"
    )


def alembic_config(url: str, settings: Settings | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location(settings)))
    config.set_main_option(
        "file_template",
        "%%(year)d-%%(month).2d-%%(day).2d-%%(hour).2d%%(minute).2d_%%(slug)s",
    )
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head", settings: Settings | None = None) -> None:
    command.upgrade(alembic_config(url, settings), revision)


def downgrade(url: str, revision: str = "base", settings: Settings | None = None) -> None:
    command.downgrade(alembic_config(url, settings), revision)


def head_revision(settings: Settings | None = None) -> str | None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://", settings))
    return script.get_current_head()


def current_revision(url: str) -> str | None:
    async def _read() -> str | None:
        engine = make_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:

                def get(sync_conn: Connection) -> str | None:
                    return MigrationContext.configure(sync_conn).get_current_revision()

                return await conn.run_sync(get)
        finally:
            await engine.dispose()

    return asyncio.run(_read())
