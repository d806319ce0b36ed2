"""PDVAULT_DATABASE_URL as operators write it, and start-up failures that name their fix
(issue 15.7): ``postgresql://`` and ``postgres://`` mean asyncpg; a database that does not
exist, a refused connection and a role the server does not know are each one line saying so.

The commands run for real in a subprocess against the real PostgreSQL of the run.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from pdvault.config import Settings
from tests.cli.test_cli import run
from tests.conftest import _pg_admin
from tests.helpers import free_port

SECRET = "pw-s3cret-not-shown"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@db:5432/v", "postgresql+asyncpg://u@db:5432/v"),
        ("postgres://u:pw@db/v?ssl=require", "postgresql+asyncpg://u:pw@db/v?ssl=require"),
        ("postgresql+asyncpg://u@db/v", "postgresql+asyncpg://u@db/v"),
        ("sqlite+aiosqlite:////data/pdvault.sqlite3", "sqlite+aiosqlite:////data/pdvault.sqlite3"),
        ("sqlite:////data/pdvault.sqlite3", "sqlite+aiosqlite:////data/pdvault.sqlite3"),
    ],
)
def test_plain_schemes_mean_the_async_drivers(given: str, expected: str) -> None:
    from pdvault.db import normalise_database_url

    assert normalise_database_url(given) == expected
    settings = Settings(database_url=given, _env_file=None)  # type: ignore[call-arg]
    assert settings.effective_database_url == expected


@pytest.mark.parametrize("command", [["migrate"], ["init"], ["serve"]])
def test_an_unsupported_scheme_is_one_line_naming_the_variable(
    tmp_path: Path, command: list[str]
) -> None:
    result = run(tmp_path, *command, PDVAULT_DATABASE_URL=f"mysql://u:{SECRET}@db/v")
    assert result.code != 0
    assert len(result.err_lines) == 1, result.err
    assert "PDVAULT_DATABASE_URL" in result.err_lines[0]
    assert "postgresql://" in result.err_lines[0]
    assert SECRET not in result.err


def _server(database_url: str) -> tuple[str, int]:
    url = make_url(database_url)
    return url.host or "127.0.0.1", url.port or 5432


@pytest.fixture
def empty_database(database_url: str) -> Iterator[str]:
    """A database of its own on the run's PostgreSQL, empty (init adds an admin to it)."""
    name = f"pdvault_url_{secrets.token_hex(4)}"
    asyncio.run(_pg_admin(database_url, f'CREATE DATABASE "{name}"'))
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_pg_admin(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.postgresql_only
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_migrate_and_init_accept_the_plain_scheme(
    tmp_path: Path, empty_database: str, scheme: str
) -> None:
    """Was: "database unavailable (ModuleNotFoundError)" (SQLAlchemy's default driver)."""
    plain = make_url(empty_database).set(drivername=scheme).render_as_string(hide_password=False)
    migrated = run(tmp_path, "migrate", PDVAULT_DATABASE_URL=plain)
    assert migrated.code == 0, migrated.err
    assert "latest revision" in migrated.out
    init = run(tmp_path, "init", "--json", PDVAULT_DATABASE_URL=plain)
    assert init.code == 0, init.err
    assert json.loads(init.out)["database"] == "postgresql"
    assert json.loads(init.out)["admin_token"]


def _failing_url(database_url: str, cause: str) -> tuple[str, str]:
    """A URL on the run's server that fails for ``cause``, and what the line must name."""
    host, port = _server(database_url)
    if cause == "no_database":
        name = "pdvault_no_such_database_15"
        return f"postgresql://postgres:{SECRET}@{host}:{port}/{name}", f'database "{name}"'
    if cause == "refused":
        closed = free_port()
        return f"postgresql://postgres:{SECRET}@127.0.0.1:{closed}/pdvault", "nothing is listening"
    role = "pdvault_no_such_role_15"  # trust auth admits any password: an unknown role fails
    return f"postgresql://{role}:{SECRET}@{host}:{port}/postgres", f'role "{role}"'


@pytest.mark.postgresql_only
@pytest.mark.parametrize("cause", ["no_database", "refused", "unknown_role"])
@pytest.mark.parametrize("command", [["migrate"], ["init"], ["serve"]])
def test_start_up_names_the_database_fault_and_its_fix(
    tmp_path: Path, database_url: str, command: list[str], cause: str
) -> None:
    url, named = _failing_url(database_url, cause)
    result = run(tmp_path, *command, PDVAULT_DATABASE_URL=url)
    assert result.code != 0
    assert len(result.err_lines) == 1, result.err
    line = result.err_lines[0]
    assert line.startswith("pdvault: "), line
    assert named in line, line
    assert "PDVAULT_DATABASE_URL" in line, line  # where to fix it
    assert "database unavailable" not in line  # the old guess-it-yourself line
    assert SECRET not in result.err
    assert "Traceback" not in result.err
