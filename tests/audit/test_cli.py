"""``pdvault audit verify | checkpoint`` against the test database: in this process, and once
as a process of its own (``python -m pdvault``) to prove the real entry point.

These use ``database_url``, so they run once per engine. The ``app`` fixture truncates the
database first; each test writes its events through the API (``client``) before the command
runs, and the command uses the same keyring as the app, so it checks the app's signatures.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from pdvault.audit.ledger import AuditCheckpoint
from pdvault.audit.models import AccessEvent
from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring, new_keyring
from tests.conftest import TokenFactory, access_events
from tests.helpers import Result, cli_env, invoke_cli, spawn_cli


@pytest.fixture
def issue(issue_via_api: TokenFactory) -> TokenFactory:
    """Principals made through the admin API: the events checked here include theirs."""
    return issue_via_api


TIMEOUT = 120
MakeCustomer = Callable[..., Awaitable[str]]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """As conftest's, but the app's own checkpointer never runs during a test."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        auth_cache_seconds=0.5,
        audit_checkpoint_every_seconds=3600,
        audit_checkpoint_every_events=1_000_000,
        _env_file=None,
    )


@dataclass
class Cli:
    database_url: str
    keyring: Keyring
    tmp: Path

    def env(self, **extra: str) -> dict[str, str]:
        ours = {
            "PDVAULT_DATABASE_URL": self.database_url,
            "PDVAULT_KEYS_JSON": self.keyring.to_json(),
            "PDVAULT_DATA_DIR": str(self.tmp / "cli-data"),
        }
        return cli_env(**{**ours, **extra})

    async def run(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """The command in this process (in a thread: it runs its own event loop)."""
        env = env if env is not None else self.env()
        return await asyncio.to_thread(invoke_cli, *args, env=env, cwd=self.tmp)

    async def spawn(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """The command as ``python -m pdvault``, in a process of its own."""
        env = env if env is not None else self.env()
        return await asyncio.to_thread(spawn_cli, *args, env=env, cwd=self.tmp, timeout=TIMEOUT)


@pytest.fixture
def cli(database_url: str, keyring: Keyring, tmp_path: Path) -> Cli:
    return Cli(database_url, keyring, tmp_path)


async def some_events(
    client: httpx.AsyncClient, issue: TokenFactory, make_customer: MakeCustomer
) -> None:
    """Creates, reads (allowed and denied) by two roles: a few chained events."""
    staff = await issue("employee", "nhân-viên-cli")
    for _ in range(3):
        cid = await make_customer()
        r = await client.get(
            f"/v1/customers/{cid}", params={"purpose": "order_confirmation"}, headers=staff.headers
        )
        assert r.status_code == 200, r.text
    r = await client.get(
        f"/v1/customers/{cid}", params={"purpose": "marketing"}, headers=staff.headers
    )
    assert r.status_code == 403, r.text


async def checkpoint_count(app: Any) -> int:
    async with app.state.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0)


async def tamper(app: Any, seq: int, **values: Any) -> None:
    async with app.state.runtime.sessions() as session:
        await session.execute(update(AccessEvent).where(AccessEvent.seq == seq).values(**values))
        await session.commit()


async def test_verify_clean_log(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    make_customer: MakeCustomer,
    cli: Cli,
) -> None:
    await some_events(client, issue, make_customer)
    stored = await access_events(app)
    assert len(stored) >= 10

    result = await cli.run("audit", "verify")
    assert result.code == 0, result
    assert "ok" in result.out.lower()
    assert str(len(stored)) in result.out, result.out

    result = await cli.run("audit", "verify", "--json")
    assert result.code == 0, result
    assert len(result.out_lines) == 1, result.out
    body = json.loads(result.out)
    assert body["ok"] is True
    assert body["checked"] == len(stored)
    assert body["first_invalid_seq"] is None
    assert body["checkpoint"] is None


async def test_verify_names_the_tampered_seq(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    make_customer: MakeCustomer,
    cli: Cli,
) -> None:
    """The log is checkpointed first: only then is every kind of tampering detectable."""
    await some_events(client, issue, make_customer)
    assert await app.state.runtime.checkpointer.checkpoint_now() is not None
    stored = await access_events(app)
    target = next(e for e in stored if e["action"] == "customer.read" and e["outcome"] == "denied")
    await tamper(app, target["seq"], outcome="allowed", reason=None)

    result = await cli.run("audit", "verify")
    assert result.code == 1, result
    assert f"seq {target['seq']}" in result.out + result.err, result

    result = await cli.run("audit", "verify", "--json")
    assert result.code == 1, result
    assert len(result.out_lines) == 1, result.out
    body = json.loads(result.out)
    assert body["ok"] is False
    assert body["first_invalid_seq"] == target["seq"]
    assert body["problem"]
    assert body["checked"] == len([e for e in stored if e["seq"] < target["seq"]])


async def test_verify_with_another_key_fails(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    make_customer: MakeCustomer,
    cli: Cli,
) -> None:
    """Writers are registered with the app's key; a different key cannot vouch for them."""
    await some_events(client, issue, make_customer)
    first = (await access_events(app))[0]
    env = cli.env(PDVAULT_KEYS_JSON=new_keyring().to_json())
    result = await cli.run("audit", "verify", "--json", env=env)
    assert result.code == 1, result
    body = json.loads(result.out)
    assert body["ok"] is False
    assert body["first_invalid_seq"] == first["seq"]


async def test_checkpoint_then_nothing_to_checkpoint(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    make_customer: MakeCustomer,
    cli: Cli,
) -> None:
    await some_events(client, issue, make_customer)
    stored = await access_events(app)
    before = await checkpoint_count(app)

    result = await cli.run("audit", "checkpoint")
    assert result.code == 0, result
    assert await checkpoint_count(app) == before + 1
    assert str(stored[-1]["seq"]) in result.out, result.out

    result = await cli.run("audit", "checkpoint")
    assert result.code == 0, result
    assert "nothing to checkpoint" in result.out.lower(), result.out
    assert await checkpoint_count(app) == before + 1

    # the command signed with the app's key: the API's verify accepts the checkpoint
    auditor = await issue("auditor")
    r = await client.get("/v1/audit/verify", headers=auditor.headers)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True
    assert r.json()["checkpoint"]["seq"] == stored[-1]["seq"]

    # new events (the verify request's own, at least): something to checkpoint again
    result = await cli.run("audit", "checkpoint")
    assert result.code == 0, result
    assert await checkpoint_count(app) == before + 2


@pytest.mark.parametrize("command", ["verify", "checkpoint"])
async def test_missing_keyring_is_one_line(
    client: httpx.AsyncClient,
    issue: TokenFactory,
    make_customer: MakeCustomer,
    cli: Cli,
    command: str,
) -> None:
    await some_events(client, issue, make_customer)
    env = cli.env(PDVAULT_KEYRING=str(cli.tmp / "no-such-keyring.json"))
    del env["PDVAULT_KEYS_JSON"]
    # The real entry point: the exit code and one line on standard error, nothing on standard
    # output, from the process itself.
    result = await cli.spawn("audit", command, env=env)
    assert result.code != 0, result
    assert len(result.err_lines) == 1, result.err
    assert "Traceback" not in result.err + result.out


async def test_audit_help(tmp_path: Path) -> None:
    """Needs no database: runs once, not per engine."""
    cli = Cli("sqlite+aiosqlite:///unused", new_keyring(), tmp_path)
    result = await cli.run("audit", "--help")
    assert result.code == 0, result
    assert "verify" in result.out
    assert "checkpoint" in result.out
    for command in ("verify", "checkpoint"):
        result = await cli.run("audit", command, "--help")
        assert result.code == 0, result
    result = await cli.run("audit", "verify", "--help")
    assert "--json" in result.out
