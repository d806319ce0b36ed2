"""The ``pdvault`` command against a fresh SQLite data dir: what each command does is tested
in this process (``invoke``); each command also runs once for real in a process of its own
(``run``: exit code, standard output and error apart).

These tests need no database fixture: each works in its own temporary directory with the
SQLite default, so they run once, not once per engine.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pdvault.config import Settings
from pdvault.crypto.keyring import load_keyring, new_keyring, write_keyring
from pdvault.main import create_app
from tests.helpers import Result, cli_env, free_port, invoke_cli, spawn_cli

TIMEOUT = 60  # generous: a command that hangs (e.g. a server that started) fails the test


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The inherited environment without any PDVAULT_* variable, then only what we set."""
    ours = {"PDVAULT_DATA_DIR": str(data_dir), "PDVAULT_HOST": "127.0.0.1"}
    return cli_env(**{**ours, **extra})


def run(cwd: Path, *args: str, **extra_env: str) -> Result:
    """``python -m pdvault ARGS`` in a process of its own, in ``cwd`` with data in ``cwd/data``."""
    return spawn_cli(*args, env=clean_env(cwd / "data", **extra_env), cwd=cwd, timeout=TIMEOUT)


def invoke(cwd: Path, *args: str, **extra_env: str) -> Result:
    """The same command run in this process (typer's runner): for what the command does."""
    return invoke_cli(*args, env=clean_env(cwd / "data", **extra_env), cwd=cwd)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def settings_for(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=None,
        keyring=None,
        keys_json=None,
        _env_file=None,
    )


async def get_principals(data_dir: Path, token: str) -> httpx.Response:
    """GET /v1/principals on an app built in-process over the same data dir as the CLI."""
    app = create_app(settings_for(data_dir))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.get("/v1/principals", headers={"Authorization": f"Bearer {token}"})


def token_in(output: str) -> str:
    tokens = [line.strip() for line in output.splitlines() if line.strip().startswith("pdv_")]
    assert len(tokens) == 1, output
    return tokens[0]


@dataclass
class Initialised:
    root: Path
    first: Result
    token: str

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def keyring(self) -> Path:
        return self.data / "keyring.json"


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Initialised:
    """One ``pdvault init`` on a fresh directory, shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("cli-init")
    first = run(root, "init")
    assert first.code == 0, first.err
    return Initialised(root, first, token_in(first.out))


# -- init ---------------------------------------------------------------------------------------


def test_init_creates_keyring_0600_and_sqlite_and_prints_a_token(initialised: Initialised) -> None:
    assert initialised.keyring.is_file()
    assert mode_of(initialised.keyring) == 0o600
    load_keyring(initialised.keyring)  # a valid keyring, accepted by the loader
    assert (initialised.data / "pdvault.sqlite3").is_file()
    assert initialised.token.startswith("pdv_")
    assert len(initialised.token) > 40
    assert str(initialised.keyring) in initialised.first.out
    assert initialised.first.err_lines == []


def test_second_init_changes_nothing(initialised: Initialised) -> None:
    keyring_before = initialised.keyring.read_bytes()
    again = invoke(initialised.root, "init")
    assert again.code == 0, again.err
    assert "nothing changed" in again.out
    assert "pdv_" not in again.out
    assert initialised.keyring.read_bytes() == keyring_before
    assert mode_of(initialised.keyring) == 0o600


async def test_init_token_works_against_the_api(initialised: Initialised) -> None:
    r = await get_principals(initialised.data, initialised.token)
    assert r.status_code == 200, r.text
    principals = r.json()["items"]
    assert [p["role"] for p in principals].count("admin") >= 1
    assert any(p["name"] == "first-admin" for p in principals)
    # A token that was never issued does not work: the 200 above is not a free pass.
    forged = await get_principals(initialised.data, "pdv_" + "A" * 43)
    assert forged.status_code == 401


def test_init_json_on_fresh_dir_then_rerun(tmp_path: Path) -> None:
    first = invoke(tmp_path, "init", "--json")
    assert first.code == 0, first.err
    lines = [line for line in first.out.splitlines() if line.strip()]
    assert len(lines) == 1, first.out
    doc = json.loads(lines[0])
    assert isinstance(doc, dict)
    assert isinstance(doc["admin_token"], str)
    assert doc["admin_token"].startswith("pdv_")
    assert doc["changed"] is True
    assert doc["keyring_created"] is True
    assert doc["database"] == "sqlite"
    keyring = tmp_path / "data" / "keyring.json"
    assert doc["keyring"] == str(keyring)
    assert mode_of(keyring) == 0o600
    before = keyring.read_bytes()

    second = invoke(tmp_path, "init", "--json")
    assert second.code == 0, second.err
    lines = [line for line in second.out.splitlines() if line.strip()]
    assert len(lines) == 1, second.out
    again = json.loads(lines[0])
    assert again["admin_token"] is None
    assert again["changed"] is False
    assert again["keyring_created"] is False
    assert keyring.read_bytes() == before


def test_init_refuses_an_unsafe_existing_keyring(tmp_path: Path) -> None:
    keyring = tmp_path / "data" / "keyring.json"
    write_keyring(keyring, new_keyring())
    keyring.chmod(0o644)
    before = keyring.read_bytes()
    result = invoke(tmp_path, "init")
    assert result.code != 0
    assert len(result.err_lines) == 1, result.err
    assert result.err_lines[0].startswith("pdvault:")
    assert "readable by others" in result.err_lines[0]
    assert "pdv_" not in result.out
    assert keyring.read_bytes() == before
    assert not (tmp_path / "data" / "pdvault.sqlite3").exists()


@pytest.mark.parametrize(
    "command", [["init"], ["init", "--json"], ["token", "create", "--role", "dpo", "--name", "d"]]
)
def test_lost_keyring_on_a_used_database_is_refused_not_replaced(
    tmp_path: Path, command: list[str]
) -> None:
    """A keyring gone missing (an unmounted secret, a deleted file) must not be silently
    replaced: the database's data keys and writer signatures are under the old one."""
    first = invoke(tmp_path, "init")
    assert first.code == 0, first.err
    keyring = tmp_path / "data" / "keyring.json"
    keyring.unlink()
    result = invoke(tmp_path, *command)
    assert result.code != 0, result.out
    assert len(result.err_lines) == 1, result.err
    assert result.err_lines[0].startswith("pdvault:")
    assert "keyring not found" in result.err_lines[0]
    assert "pdv_" not in result.out
    assert "nothing changed" not in result.out
    assert not keyring.exists()


# -- serve refuses unusable keys before starting anything ---------------------------------------


def _missing(data: Path) -> None:
    data.mkdir(parents=True)


def _corrupt(data: Path) -> None:
    keyring = data / "keyring.json"
    write_keyring(keyring, new_keyring())
    text = keyring.read_text()
    keyring.write_text(text[: len(text) // 2])
    keyring.chmod(0o600)


def _world_readable(data: Path) -> None:
    keyring = data / "keyring.json"
    write_keyring(keyring, new_keyring())
    keyring.chmod(0o644)


@pytest.mark.parametrize(
    ("prepare", "problem"),
    [(_missing, "not found"), (_corrupt, "corrupt"), (_world_readable, "readable by others")],
    ids=["missing", "corrupt", "mode-0644"],
)
def test_serve_refuses_bad_keyring_with_one_line(
    tmp_path: Path, prepare: Any, problem: str
) -> None:
    prepare(tmp_path / "data")
    keyring = tmp_path / "data" / "keyring.json"
    secret_text = keyring.read_text() if keyring.exists() else ""
    # The keyring is checked before uvicorn starts: nothing ever listens on this port.
    result = run(tmp_path, "serve", "--port", str(free_port()))
    assert result.code != 0
    assert len(result.err_lines) == 1, result.err
    line = result.err_lines[0]
    assert line.startswith("pdvault:")
    assert problem in line
    assert "Traceback" not in result.err
    assert "Uvicorn running" not in result.err + result.out
    for key in re.findall(r'"([A-Za-z0-9+/]{43}=)"', secret_text):
        assert key not in result.err


def test_serve_refuses_corrupt_keys_json_in_the_environment(tmp_path: Path) -> None:
    ring = new_keyring()
    doc = json.loads(ring.to_json())
    doc["primary"] = 7
    result = run(tmp_path, "serve", PDVAULT_KEYS_JSON=json.dumps(doc))
    assert result.code != 0
    assert len(result.err_lines) == 1, result.err
    assert result.err_lines[0].startswith("pdvault:")
    assert "corrupt" in result.err_lines[0]
    assert doc["keks"]["1"] not in result.err


# -- token create ---------------------------------------------------------------------------------


async def test_token_create_prints_a_working_token(initialised: Initialised) -> None:
    args = ("token", "create", "--role", "storefront", "--name", "x")
    result = await asyncio.to_thread(invoke, initialised.root, *args)  # its own event loop
    assert result.code == 0, result.err
    token = token_in(result.out)
    assert token != initialised.token
    # A real token of a storefront: recognised (403, not 401) and not allowed to list principals.
    r = await get_principals(initialised.data, token)
    assert r.status_code == 403, r.text


async def test_token_create_admin_can_list_principals(initialised: Initialised) -> None:
    args = ("token", "create", "--role", "admin", "--name", "ops-admin")
    result = await asyncio.to_thread(invoke, initialised.root, *args)  # its own event loop
    assert result.code == 0, result.err
    r = await get_principals(initialised.data, token_in(result.out))
    assert r.status_code == 200, r.text
    assert any(p["name"] == "ops-admin" for p in r.json()["items"])


@pytest.mark.parametrize(
    "args",
    [
        ["--role", "nosuchrole", "--name", "x"],
        ["--role", "partner", "--name", "x", "--partner", "not-a-uuid"],
        ["--role", "storefront", "--name", "x", "--days", "0"],
        ["--role", "partner", "--name", "x", "--partner", "0193a5b0-7e2c-7d11-8c4a-5f0e0000dead"],
    ],
    ids=["unknown-role", "bad-partner-id", "zero-days", "unknown-partner"],
)
def test_token_create_with_bad_input_fails_with_one_line(
    initialised: Initialised, args: list[str]
) -> None:
    result = invoke(initialised.root, "token", "create", *args)
    assert result.code != 0
    assert len(result.err_lines) == 1, result.err
    assert result.err_lines[0].startswith("pdvault:")
    # The database answered: a refusal of the input is not an outage.
    assert "database unavailable" not in result.err
    assert "pdv_" not in result.out


# -- keys create ----------------------------------------------------------------------------------


def test_keys_create_writes_0600_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "secrets" / "keyring.json"
    first = run(tmp_path, "keys", "create", "--out", str(out))
    assert first.code == 0, first.err
    assert mode_of(out) == 0o600
    ring = load_keyring(out)
    before = out.read_bytes()
    for key in ring.keks.values():
        assert key.hex() not in first.out

    second = run(tmp_path, "keys", "create", "--out", str(out))
    assert second.code != 0
    assert len(second.err_lines) == 1, second.err
    assert second.err_lines[0].startswith("pdvault:")
    assert "already exists" in second.err_lines[0]
    assert out.read_bytes() == before


def test_keys_create_defaults_to_the_configured_keyring(tmp_path: Path) -> None:
    """Without --out the keyring goes where the service will look for it (PDVAULT_KEYRING),
    so the container image can create it in its mounted folder:
    `docker compose run --rm pdvault keys create`."""
    target = tmp_path / "mounted" / "keyring.json"
    result = invoke(tmp_path, "keys", "create", PDVAULT_KEYRING=str(target))
    assert result.code == 0, result.err
    assert mode_of(target) == 0o600
    assert load_keyring(target).keks
    assert str(target) in result.out
    default = invoke(tmp_path, "keys", "create")  # no PDVAULT_KEYRING: inside the data dir
    assert default.code == 0, default.err
    assert mode_of(tmp_path / "data" / "keyring.json") == 0o600
    again = invoke(tmp_path, "keys", "create", PDVAULT_KEYRING=str(target))
    assert again.code != 0
    assert "already exists" in again.err


@pytest.mark.parametrize("command", [["init"], ["serve"], ["migrate"], ["audit", "verify"]])
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PDVAULT_AUTH_CACHE_SECONDS", "5"),
        ("PDVAULT_PORT", "not-a-port-pw-s3cret"),
        ("PDVAULT_MAX_BODY_BYTES", "-1"),
    ],
)
def test_bad_configuration_is_one_line_naming_the_variable(
    tmp_path: Path, command: list[str], variable: str, value: str
) -> None:
    # serve in this process would start a server if it wrongly accepted the value.
    runner = run if command == ["serve"] else invoke
    result = runner(tmp_path, *command, **{variable: value})
    assert result.code != 0
    assert len(result.err_lines) == 1, result.err
    line = result.err_lines[0]
    assert line.startswith("pdvault:")
    assert variable in line
    assert value not in line  # a configuration value may be a secret
    assert "Traceback" not in result.err


# -- help and openapi -----------------------------------------------------------------------------


def every_command() -> list[list[str]]:
    """Every command and sub-command the CLI has (so a new one is covered without a list)."""
    import typer

    from pdvault.cli import app

    found: list[list[str]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        found.append(path)
        if hasattr(cmd, "commands"):  # a group (typer vendors its own click)
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


@pytest.mark.parametrize("command", every_command(), ids=lambda c: "-".join(c) or "top")
def test_help(tmp_path: Path, command: list[str]) -> None:
    result = invoke(tmp_path, *command, "--help")
    assert result.code == 0, result.err
    assert "Usage" in result.out
    assert "--help" in result.out
    assert not (tmp_path / "data").exists()  # --help does nothing else


def test_console_script_is_installed(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "pdvault"
    assert script.is_file()
    proc = subprocess.run(
        [str(script), "--help"],
        cwd=tmp_path,
        env=clean_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("init", "migrate", "serve", "token", "keys", "openapi"):
        assert name in proc.stdout


def test_openapi_prints_the_document(tmp_path: Path) -> None:
    result = run(tmp_path, "openapi")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["openapi"].startswith("3.")
    assert "/v1/customers" in doc["paths"]
    assert "/v1/principals" in doc["paths"]
    assert not (tmp_path / "data").exists()  # printing the document touches no data


def test_every_api_md_command_exists() -> None:
    names = {" ".join(c) for c in every_command()}
    for expected in (
        "init",
        "serve",
        "migrate",
        "token create",
        "keys rotate",
        "keys rewrap",
        "keys status",
        "audit verify",
        "audit checkpoint",
        "openapi",
    ):
        assert expected in names


def test_key_commands_fail_in_one_line(tmp_path: Path) -> None:
    for command in (
        ["keys", "rotate"],
        ["keys", "status"],
        ["keys", "rewrap"],
        ["keys", "retire", "1"],
    ):
        result = run(tmp_path, *command)
        assert result.code != 0, command
        assert len(result.err_lines) == 1, (command, result.err)
        assert result.err_lines[0].startswith("pdvault:"), result.err
        assert "keyring not found" in result.err_lines[0]
    env_keys = run(tmp_path, "keys", "rotate", PDVAULT_KEYS_JSON=new_keyring().to_json())
    assert env_keys.code != 0
    assert "PDVAULT_KEYS_JSON" in env_keys.err_lines[0]


def test_keys_rotate_status_retire_on_a_fresh_vault(tmp_path: Path) -> None:
    assert invoke(tmp_path, "init").code == 0
    rotated = invoke(tmp_path, "keys", "rotate")
    assert rotated.code == 0, rotated.err
    assert "key version 2 is primary" in rotated.out
    status = invoke(tmp_path, "keys", "status", "--json")
    report = json.loads(status.out)
    assert report["primary"] == 2
    assert [v["version"] for v in report["versions"]] == [1, 2]
    # --niceness 0: run in this process, the command must not lower the test run's priority.
    rewrapped = invoke(tmp_path, "keys", "rewrap", "--quiet", "--niceness", "0")
    assert rewrapped.out.strip() == "rewrapped 0 data keys"
    primary = invoke(tmp_path, "keys", "retire", "2")
    assert primary.code != 0
    assert "primary" in primary.err_lines[0]
    assert invoke(tmp_path, "keys", "retire", "1").code == 0
    assert sorted(load_keyring(tmp_path / "data" / "keyring.json").keks) == [2]


@pytest.mark.parametrize("niceness", [0, 10])
def test_rewrap_lowers_only_its_own_priority(niceness: int) -> None:
    """``keys rewrap`` lowers its CPU priority (by 10 unless told) so the servers' requests keep
    the cores; a niceness of 0 leaves it. In a process of its own: nice() lasts for life."""
    code = (
        "import os; from pdvault.keys.ops import yield_cpu; "
        f"before = os.nice(0); yield_cpu({niceness}); print(os.nice(0) - before)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert int(out.stdout) == niceness


def test_rewrap_runs_at_niceness_10_unless_told() -> None:
    from pdvault.cli import keys_rewrap

    default = inspect.signature(keys_rewrap).parameters["niceness"].default
    assert default == 10
    assert "--niceness" in invoke_cli("keys", "rewrap", "--help", env={}).out
