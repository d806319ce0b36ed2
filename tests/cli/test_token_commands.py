"""``pdvault token create / list / revoke``, ``--version`` and how flags read in ``--help``.

The token commands run for real in a subprocess, against SQLite and (when
``PDVAULT_TEST_POSTGRES_URL`` is set) a fresh PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from pdvault.cli import app
from tests.cli.test_cli import Result, every_command, get_principals, invoke, run, token_in
from tests.conftest import ENGINES, POSTGRES_URL, _pg_admin


@dataclass
class Runtime:
    root: Path
    env: dict[str, str]
    admin_token: str

    def run(self, *args: str) -> Result:
        """The command in a process of its own (the entry point: exit code, streams)."""
        return run(self.root, *args, **self.env)

    def invoke(self, *args: str) -> Result:
        """The command in this process: for what it does (tests/helpers.py, invoke_cli)."""
        return invoke(self.root, *args, **self.env)


@pytest.fixture(params=ENGINES)
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    """``pdvault init`` on a fresh directory (SQLite) or a fresh PostgreSQL database."""
    env: dict[str, str] = {}
    name = None
    if request.param == "postgresql":
        assert POSTGRES_URL is not None
        name = f"pdvault_cli_{secrets.token_hex(4)}"
        asyncio.run(_pg_admin(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
        url = make_url(POSTGRES_URL).set(drivername="postgresql+asyncpg", database=name)
        env["PDVAULT_DATABASE_URL"] = url.render_as_string(hide_password=False)
    first = invoke(tmp_path, "init", **env)  # set-up: in this process
    assert first.code == 0, first.err
    yield Runtime(tmp_path, env, token_in(first.out))
    if name is not None:
        assert POSTGRES_URL is not None
        asyncio.run(_pg_admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _principals(runtime: Runtime, token: str) -> int:
    if runtime.env:  # the in-process app of test_cli reads SQLite only
        return 200
    return (await get_principals(runtime.root / "data", token)).status_code


def _listed(runtime: Runtime, *args: str) -> list[dict[str, Any]]:
    result = runtime.run("token", "list", "--json", *args)
    assert result.code == 0, result.err
    items: list[dict[str, Any]] = json.loads(result.out)
    return items


async def test_create_prints_id_and_token_list_shows_it_revoke_stops_it(runtime: Runtime) -> None:
    created = runtime.run("token", "create", "--role", "admin", "--name", "ops")
    assert created.code == 0, created.err
    token = token_in(created.out)
    ids = [w for w in created.out.split() if _is_uuid(w)]
    assert ids, created.out
    token_id = ids[0]
    assert await _principals(runtime, token) == 200

    listed = {t["id"]: t for t in _listed(runtime)}
    assert token_id in listed
    assert listed[token_id]["principal_name"] == "ops"
    assert listed[token_id]["role"] == "admin"
    assert listed[token_id]["revoked_at"] is None
    assert len(listed) == 2  # the first admin's and this one
    text = runtime.run("token", "list")
    assert text.code == 0, text.err
    assert token_id in text.out
    assert "pdv_" not in text.out  # a token is shown once, at creation
    principal_id = listed[token_id]["principal_id"]
    assert [t["id"] for t in _listed(runtime, "--principal", principal_id)] == [token_id]

    revoked = runtime.run("token", "revoke", token_id)
    assert revoked.code == 0, revoked.err
    assert token_id in revoked.out
    if not runtime.env:  # the in-process app reads the SQLite data dir: the token stopped
        assert await _principals(runtime, token) == 401
    assert {t["id"]: t for t in _listed(runtime)}[token_id]["revoked_at"] is not None
    again = runtime.run("token", "revoke", token_id)  # already revoked: said, not an error
    assert again.code == 0, again.err


def test_create_json_is_one_object(runtime: Runtime) -> None:
    result = runtime.invoke("token", "create", "--role", "auditor", "--name", "audit", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["token"].startswith("pdv_")
    uuid.UUID(doc["id"])
    uuid.UUID(doc["principal_id"])
    assert doc["expires_at"]


def test_a_second_principal_with_the_same_name_fails_in_one_line(runtime: Runtime) -> None:
    assert runtime.invoke("token", "create", "--role", "storefront", "--name", "shop").code == 0
    again = runtime.invoke("token", "create", "--role", "employee", "--name", "shop")
    assert again.code != 0
    assert len(again.err_lines) == 1, again.err
    assert again.err_lines[0].startswith("pdvault:")
    assert "already exists" in again.err_lines[0]
    assert "database unavailable" not in again.err
    assert "pdv_" not in again.out
    assert len(_listed(runtime)) == 2


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["token", "revoke", "not-a-uuid"], "not a token id"),
        (["token", "revoke", str(uuid.UUID(int=7))], "no such token"),
        (["token", "list", "--principal", "nope"], "not a principal id"),
        (["token", "list", "--principal", str(uuid.UUID(int=7))], "no such principal"),
    ],
)
def test_bad_ids_fail_in_one_line(runtime: Runtime, args: list[str], says: str) -> None:
    result = runtime.invoke(*args)
    assert result.code != 0
    assert len(result.err_lines) == 1, result.err
    assert result.err_lines[0].startswith("pdvault:")
    assert says in result.err_lines[0]


def _is_uuid(word: str) -> bool:
    try:
        uuid.UUID(word.strip("(),:"))
    except ValueError:
        return False
    return True


# -- engine-independent ---------------------------------------------------------------------------


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    result = run(tmp_path, "--version")
    assert result.code == 0, result.err
    assert result.out.strip() == f"pdvault {version('pdvault')}"
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("command", every_command(), ids=lambda c: "-".join(c) or "top")
def test_flags_read_as_flags_in_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    if "--json" in result.output:
        line = next(x for x in result.output.splitlines() if "--json" in x)
        assert "BOOLEAN" not in line.upper()
        assert "<" not in line
