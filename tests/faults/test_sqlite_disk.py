"""SQLite on a disk that fills up or turns read-only: 503 problems, nothing disclosed (the
access event cannot be written, so no data), nothing half-kept; and the same app recovers once
the disk is fixed.

The disk is real: a small tmpfs mounted by the test (we run as root, as CI does). Root ignores
file modes, so only the filesystem itself can refuse writes. Linux will not remount a
filesystem read-only while a file on it is open for writing, so the app's pooled connections
are closed first (as a pool recycle would) and the read-only remount then takes effect for
every connection the app opens next. Runs once (its own SQLite file), not per engine.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pdvault.audit.verify import verify_log
from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring
from pdvault.crypto.provider import LocalKeyProvider
from pdvault.main import create_app
from pdvault.migrate import upgrade
from pdvault.policy import Role
from pdvault.principals import service as principals
from pdvault.principals.schemas import PrincipalIn
from tests.conftest import customer_body
from tests.faults.conftest import READ, unavailable, values_of
from tests.helpers import assert_problem


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs of the test's own, unmounted afterwards whatever happens."""
    point = tmp_path / "disk"
    point.mkdir()
    if os.geteuid() != 0:
        unavailable("mounting a tmpfs needs root")
    done = _mount("-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(point))
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield point
    finally:
        _mount("-o", "remount,rw", str(point))
        subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)


@dataclass
class Rig:
    app: Any
    client: httpx.AsyncClient
    shop: dict[str, str]
    staff: dict[str, str]
    db: Path

    async def create(self) -> tuple[httpx.Response, dict[str, Any]]:
        body = customer_body(full_name=f"Vũ Thị Đĩa Đầy {uuid.uuid4().hex[:6]}")
        return await self.client.post("/v1/customers", json=body, headers=self.shop), body

    async def read(self, cid: str) -> httpx.Response:
        return await self.client.get(f"/v1/customers/{cid}", params=READ, headers=self.staff)

    async def search(self, body: dict[str, Any]) -> httpx.Response:
        return await self.client.post(
            "/v1/customers/search",
            json={"email": body["email"], "purpose": "order_confirmation"},
            headers=self.staff,
        )


async def _token(app: Any, role: Role) -> dict[str, str]:
    async with app.state.runtime.sessions() as session:
        principal = await principals.create_principal(
            session, PrincipalIn(name=f"disk-{role.value}", role=role)
        )
        created = await principals.issue_token(session, principal, 1)
        await session.commit()
    return {"Authorization": f"Bearer {created.token}"}


@pytest.fixture
async def rig(small_disk: Path, keyring: Keyring) -> AsyncIterator[Rig]:
    db = small_disk / "pdvault.sqlite3"
    url = f"sqlite+aiosqlite:///{db}"
    await asyncio.to_thread(upgrade, url)
    settings = Settings(
        database_url=url,
        data_dir=small_disk,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings, LocalKeyProvider(keyring))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            shop = await _token(app, Role.STOREFRONT)
            staff = await _token(app, Role.EMPLOYEE)
            yield Rig(app, c, shop, staff, db)


def _rows(db: Path, table: str) -> int:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _empty_wal(db: Path) -> None:
    """No WAL frames to reuse: the next write must grow the WAL file from 0 bytes."""
    with closing(sqlite3.connect(db)) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0
    assert Path(f"{db}-wal").stat().st_size == 0


def _fill(point: Path) -> Path:
    """Write until the filesystem answers ENOSPC, down to the last byte."""
    filler = point / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    refusals = []
    try:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 8, 1):
            while True:
                try:
                    os.write(fd, b"\0" * chunk)
                except OSError as exc:
                    refusals.append(exc.errno)
                    break
    finally:
        os.close(fd)
    assert refusals == [errno.ENOSPC] * 5, refusals
    return filler


async def _verified(rig: Rig) -> int:
    result = await verify_log(
        rig.app.state.runtime.engine, rig.app.state.runtime.audit.signer.public_raw
    )
    assert result.ok, result
    return result.checked


async def test_full_disk_gives_503_then_recovers(rig: Rig, small_disk: Path) -> None:
    r, kept = await rig.create()
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert (await rig.read(cid)).status_code == 200  # works before the fault
    forbidden = values_of(kept)
    customers = _rows(rig.db, "customers")
    events = _rows(rig.db, "access_events")

    # The app's connections stay open; the WAL is cut to nothing, then no room is left to grow it.
    _empty_wal(rig.db)
    filler = _fill(small_disk)
    try:
        for _ in range(2):
            assert_problem(await rig.read(cid), 503, absent=forbidden)
            assert_problem(await rig.search(kept), 503, absent=forbidden)
            r, body = await rig.create()
            assert_problem(r, 503, absent=forbidden + values_of(body))
    finally:
        filler.unlink()
    assert _rows(rig.db, "customers") == customers
    assert _rows(rig.db, "access_events") == events

    # Room again: the same app, no restart, answers at once; the log is whole.
    r = await rig.read(cid)
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["email"] == kept["email"]
    assert (await rig.client.get("/readyz")).status_code == 200
    r, body = await rig.create()
    assert r.status_code == 201, r.text
    assert (await rig.read(r.json()["id"])).status_code == 200
    assert await _verified(rig) == _rows(rig.db, "access_events")


async def test_read_only_disk_gives_503_then_recovers(rig: Rig, small_disk: Path) -> None:
    r, kept = await rig.create()
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert (await rig.read(cid)).status_code == 200
    forbidden = values_of(kept)
    customers = _rows(rig.db, "customers")
    events = _rows(rig.db, "access_events")

    await rig.app.state.runtime.engine.dispose()  # no file open for writing: remount may go on
    done = _mount("-o", "remount,ro", str(small_disk))
    assert done.returncode == 0, done.stderr
    try:
        for _ in range(2):
            assert_problem(await rig.read(cid), 503, absent=forbidden)
            assert_problem(await rig.search(kept), 503, absent=forbidden)
            r, body = await rig.create()
            assert_problem(r, 503, absent=forbidden + values_of(body))
    finally:
        done = _mount("-o", "remount,rw", str(small_disk))
        assert done.returncode == 0, done.stderr
    assert _rows(rig.db, "customers") == customers
    assert _rows(rig.db, "access_events") == events

    # Writable again: the connections opened while it was read-only must not linger.
    r = await rig.read(cid)
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["full_name"] == kept["full_name"]
    assert (await rig.client.get("/readyz")).status_code == 200
    r, body = await rig.create()
    assert r.status_code == 201, r.text
    assert await _verified(rig) == _rows(rig.db, "access_events")
