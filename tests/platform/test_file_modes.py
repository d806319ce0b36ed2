"""Files pdvault creates on the host are the owner's alone, whatever the umask.

The SQLite database and its ``-wal`` and ``-shm`` files hold ciphertext, blind indexes and the
access log; the keyring holds the keys. Created 0600 (directories 0700) under a umask that
would otherwise leave them readable by everyone (0022). SQLite gives ``-wal`` and ``-shm`` the
mode of the database file, so creating that one right is what keeps the other two right.
These tests need no database fixture: each works on its own file, so they run once.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from pdvault.crypto.keyring import new_keyring, write_keyring
from pdvault.db import make_engine
from tests.cli.test_cli import clean_env


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The common default umask (0022): files 0644 unless created otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("open_umask")
async def test_sqlite_database_wal_and_shm_are_created_0600(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    path = tmp_path / "data" / "pdvault.sqlite3"
    engine = make_engine(f"sqlite+aiosqlite:///{path}", pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        # Checked while the connection is open: SQLite removes -wal and -shm on the last close.
        async with engine.connect() as conn:
            await conn.execute(text("SELECT x FROM t"))
            for name in ("pdvault.sqlite3", "pdvault.sqlite3-wal", "pdvault.sqlite3-shm"):
                assert (tmp_path / "data" / name).exists(), name
                assert mode_of(tmp_path / "data" / name) == 0o600, name
    finally:
        await engine.dispose()


@pytest.mark.usefixtures("open_umask")
def test_keyring_and_its_directory_are_created_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "keyring.json"
    write_keyring(path, new_keyring())
    assert mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700


def test_init_creates_every_file_owner_only(tmp_path: Path) -> None:
    """``pdvault init`` under umask 0022: the data directory 0700, every file in it 0600."""
    data = tmp_path / "data"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; os.umask(0o022); "
            "from pdvault.cli import main; sys.argv = ['pdvault', 'init']; main()",
        ],
        cwd=tmp_path,
        env=clean_env(data),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    files = sorted(p for p in data.iterdir())
    assert data / "pdvault.sqlite3" in files
    assert data / "keyring.json" in files
    for path in files:
        assert mode_of(path) == 0o600, path.name
    assert mode_of(data) == 0o700


async def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    """Only what pdvault creates is narrowed: an operator's own choice on an existing file
    (a backup group, say) is left alone."""
    path = tmp_path / "pdvault.sqlite3"
    path.touch(mode=0o640)
    path.chmod(0o640)
    engine = make_engine(f"sqlite+aiosqlite:///{path}", pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
    finally:
        await engine.dispose()
    assert mode_of(path) == 0o640
