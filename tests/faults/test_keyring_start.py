"""A keyring that cannot be used at start: missing, corrupt, another vault's, or readable by
anyone but its owner. ``pdvault serve`` (and ``init``, ``audit verify``) refuse in exactly one
line on stderr naming the problem, with no traceback, no key material, and nothing changed.

The fresh-directory cases (missing, truncated JSON, mode 0644 before any database) are in
tests/cli/test_cli.py; here the vault is in use: a customer, data keys and a signed log exist.
Runs once (SQLite data directories of its own), not per engine.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pdvault.crypto.keyring import new_keyring, parse_keyring, write_keyring
from pdvault.main import create_app
from tests.cli.test_cli import Result, run, settings_for, token_in
from tests.conftest import customer_body
from tests.helpers import free_port


@pytest.fixture(scope="module")
def used_vault(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pdvault init``, then one customer stored through the API: the database is in use."""
    root = tmp_path_factory.mktemp("used-vault")
    assert run(root, "init").code == 0
    created = run(root, "token", "create", "--role", "storefront", "--name", "shop")
    assert created.code == 0, created.err
    token = token_in(created.out)

    async def store() -> None:
        app = create_app(settings_for(root / "data"))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                r = await c.post(
                    "/v1/customers",
                    json=customer_body(),
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert r.status_code == 201, r.text

    asyncio.run(store())
    return root


@pytest.fixture
def runtime(used_vault: Path, tmp_path: Path) -> Path:
    """A private copy of the used vault, free to break."""
    root = tmp_path / "vault"
    shutil.copytree(used_vault, root)
    return root


def keyring_of(root: Path) -> Path:
    return root / "data" / "keyring.json"


def writers(root: Path) -> int:
    with closing(sqlite3.connect(root / "data" / "pdvault.sqlite3")) as db:
        return int(db.execute("SELECT count(*) FROM audit_writers").fetchone()[0])


def secrets_in(text: str) -> list[str]:
    """Every base64 key in a keyring's text (32 bytes: 44 characters)."""
    return re.findall(r'"([A-Za-z0-9+/]{43}=)"', text)


# -- each way of breaking it; the phrase the one line must contain --------------------------


def _missing(path: Path) -> None:
    path.unlink()


def _garbage(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 4)


def _edit(change: Callable[[dict[str, object]], None]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        doc = json.loads(path.read_text())
        change(doc)
        path.write_text(json.dumps(doc))

    return apply


def _short_key(doc: dict[str, object]) -> None:
    doc["keks"] = {"1": base64.b64encode(b"\x01" * 16).decode()}


def _another_vaults(path: Path) -> None:
    """A perfectly valid keyring, of another vault."""
    path.unlink()
    write_keyring(path, new_keyring())


def _other_kek(path: Path) -> None:
    """The same signing seed, but key version 1 replaced by other bytes."""
    doc = json.loads(path.read_text())
    doc["keks"]["1"] = base64.b64encode(bytes(32)).decode()
    path.write_text(json.dumps(doc))


def _kek_dropped(path: Path) -> None:
    """Version 2 made primary and version 1, still wrapping the data keys, dropped."""
    doc = json.loads(path.read_text())
    doc["keks"] = {"2": base64.b64encode(b"\x02" * 32).decode()}
    doc["primary"] = 2
    path.write_text(json.dumps(doc))


def _mode(mode: int) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        path.chmod(mode)

    return apply


CASES = {
    "missing": (_missing, "already in use: restore that keyring"),
    "garbage-bytes": (_garbage, "corrupt: not valid JSON"),
    "short-key": (_edit(_short_key), "corrupt: key version 1 is not 32 bytes"),
    "another-vaults": (_another_vaults, "keys do not match this database"),
    "other-kek-bytes": (_other_kek, "key version 1 does not unwrap its data keys"),
    "kek-in-use-dropped": (_kek_dropped, "key version 1 wraps 1 data keys but is not held"),
    "mode-0644": (_mode(0o644), "readable by others (mode 0644)"),
    "mode-0640-group": (_mode(0o640), "readable by others (mode 0640)"),
}


def assert_one_line_refusal(result: Result, phrase: str, secrets: list[str]) -> None:
    assert result.code != 0, result.out
    assert len(result.err_lines) == 1, result.err
    line = result.err_lines[0]
    assert line.startswith("pdvault: "), line
    assert phrase in line, line
    assert "Traceback" not in result.err
    assert "Uvicorn running" not in result.err + result.out
    assert "pdv_" not in result.out
    for secret in secrets:
        assert secret not in result.err + result.out


@dataclass
class Refusal:
    result: Result
    secrets: list[str]
    writers_before: int
    writers_after: int


@pytest.fixture(scope="module")
def serve_refusals(
    used_vault: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Refusal]:
    """``pdvault serve`` on a copy of the used vault broken each way, the runs side by side
    (each is a fresh interpreter: mostly start-up time)."""

    def attempt(case: str) -> Refusal:
        root = tmp_path_factory.mktemp(f"serve-{case}") / "vault"
        shutil.copytree(used_vault, root)
        path = keyring_of(root)
        good = path.read_text()
        CASES[case][0](path)
        bad = path.read_text(errors="replace") if path.is_file() else ""
        before = writers(root)
        result = run(root, "serve", "--port", str(free_port()))
        return Refusal(result, secrets_in(good) + secrets_in(bad), before, writers(root))

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(CASES, pool.map(attempt, CASES), strict=True))


@pytest.mark.parametrize("case", list(CASES))
def test_serve_refuses_an_unusable_keyring_in_one_line(
    serve_refusals: dict[str, Refusal], case: str
) -> None:
    refusal = serve_refusals[case]
    assert_one_line_refusal(refusal.result, CASES[case][1], refusal.secrets)
    # Nothing signed under foreign keys, nothing changed.
    assert refusal.writers_after == refusal.writers_before


@pytest.mark.parametrize(
    ("command", "case"),
    [
        (["init"], "another-vaults"),
        (["init"], "mode-0640-group"),
        (["audit", "verify"], "other-kek-bytes"),
        (["audit", "verify"], "mode-0640-group"),
    ],
)
def test_other_commands_refuse_an_unusable_keyring(
    runtime: Path, case: str, command: list[str]
) -> None:
    path = keyring_of(runtime)
    good = path.read_text()
    breaks, phrase = CASES[case]
    breaks(path)
    bad = path.read_bytes()
    result = run(runtime, *command)
    if command == ["audit", "verify"] and case == "other-kek-bytes":
        # verify needs only the signing key: with the vault's own seed and a wrong KEK the
        # log is intact and says so (another vault's seed fails every writer's signature).
        assert result.code == 0, result.err
        assert result.out.startswith("ok: "), result.out
        return
    assert_one_line_refusal(
        result, phrase, secrets_in(good) + secrets_in(bad.decode(errors="replace"))
    )
    # The keyring was left as it was: never "repaired" by writing a new one.
    assert path.read_bytes() == bad


def test_serve_starts_with_the_right_keyring(runtime: Path) -> None:
    """The refusals above could fail: the untouched copy passes every start check (it gets
    as far as binding; a port already taken proves it without leaving a server running)."""
    import socket

    parse_keyring(keyring_of(runtime).read_text())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(runtime, "serve", "--port", str(port))
    assert "Uvicorn running" not in result.err
    assert "address already in use" in result.err.lower(), result.err
    assert "keys do not match" not in result.err
    assert "keyring" not in result.err


def test_serve_refuses_garbage_keys_json(runtime: Path) -> None:
    result = run(runtime, "serve", PDVAULT_KEYS_JSON='{"format": "pdvault-keyring/1", "keks": {')
    assert_one_line_refusal(result, "corrupt: not valid JSON", [])
