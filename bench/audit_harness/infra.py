"""Fresh databases and real servers for the benchmark."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
from sqlalchemy.engine import make_url

from audit_harness.common import CONCURRENCY, HarnessError
from pdvault.crypto.keyring import Keyring
from pdvault.migrate import upgrade

# -- databases ----------------------------------------------------------------------------


@dataclass
class BenchDatabase:
    engine: str
    url: str
    path: Path | None = None  # SQLite file
    admin_url: str | None = None  # PostgreSQL: where to drop it from
    name: str | None = None


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_admin(admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(engine: str, workdir: Path, postgres_url: str) -> BenchDatabase:
    """A fresh, migrated database."""
    if engine == "sqlite":
        path = workdir / f"bench-{secrets.token_hex(4)}.sqlite3"
        db = BenchDatabase(engine, f"sqlite+aiosqlite:///{path}", path=path)
    else:
        name = f"pdvault_bench_{secrets.token_hex(4)}"
        asyncio.run(_pg_admin(postgres_url, f'CREATE DATABASE "{name}"'))
        url = make_url(postgres_url).set(drivername="postgresql+asyncpg", database=name)
        db = BenchDatabase(
            engine, url.render_as_string(hide_password=False), None, postgres_url, name
        )
    upgrade(db.url)
    return db


async def _free_connections(admin_url: str) -> int:
    try:
        conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    except asyncpg.exceptions.TooManyConnectionsError:
        return 0
    try:
        return int(
            await conn.fetchval(
                "SELECT current_setting('max_connections')::int"
                " - current_setting('superuser_reserved_connections')::int"
                " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
            )
        )
    finally:
        await conn.close()


def wait_for_connections(admin_url: str, needed: int, patience: float = 600.0) -> None:
    """Until PostgreSQL has ``needed`` connections free: others' servers and test runs share
    it, and a pool that cannot connect fails requests (the run would break, and take others'
    connections with it). After ``patience`` seconds the run stops instead."""
    deadline = time.monotonic() + patience
    free = asyncio.run(_free_connections(admin_url))
    while free < needed:
        if time.monotonic() >= deadline:
            raise HarnessError(
                f"PostgreSQL has {free} connections free, the servers need {needed}: stop what "
                "holds them (pg_stat_activity), or run with a smaller --pool-size"
            )
        print(f"  waiting: PostgreSQL has {free} connections free, the servers need {needed}")
        time.sleep(10)
        free = asyncio.run(_free_connections(admin_url))


def drop_database(db: BenchDatabase) -> None:
    if db.admin_url is not None and db.name is not None:
        asyncio.run(_pg_admin(db.admin_url, f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)'))
    elif db.path is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db.path}{suffix}").unlink(missing_ok=True)


# -- servers ------------------------------------------------------------------------------


@dataclass
class Server:
    label: str
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pool_size(workers: int) -> int:
    """Each server worker's pool: as large as the worker's share of the load's connections, as
    an operator would size it (a smaller one churns connections, opened and closed per
    request), unless ``PDVAULT_BENCH_POOL_SIZE`` says otherwise (``bench/run.py --pool-size``:
    a PostgreSQL whose connections others hold)."""
    override = os.environ.get("PDVAULT_BENCH_POOL_SIZE")
    return int(override) if override else max(10, -(-CONCURRENCY // max(1, workers)))


def start_server(
    label: str,
    db: BenchDatabase,
    keyring: Keyring | Path,
    workdir: Path,
    workers: int,
    audited: bool,
    argv: list[str] | None = None,
    env_extra: dict[str, str] | None = None,
    wait: bool = True,
) -> Server:
    """A real server on 127.0.0.1, healthy. ``pdvault serve`` unless ``argv`` is given (the
    baseline app; ``{port}`` in it becomes the port); ``keyring`` is passed inline, or as a
    keyring file (``keys rotate`` needs one)."""
    port = free_port()
    log_path = workdir / f"server-{label}-{port}.log"
    keys = (
        {"PDVAULT_KEYRING": str(keyring)}
        if isinstance(keyring, Path)
        else {"PDVAULT_KEYS_JSON": keyring.to_json()}
    )
    env = {
        **os.environ,
        "PDVAULT_DATABASE_URL": db.url,
        **keys,
        "PDVAULT_DATA_DIR": str(workdir / "data"),
        "PDVAULT_HOST": "127.0.0.1",
        "PDVAULT_PORT": str(port),
        "PDVAULT_WORKERS": str(workers),
        "PDVAULT_DB_POOL_SIZE": str(pool_size(workers)),
        "PDVAULT_LOG_LEVEL": "WARNING",
        "PDVAULT_BENCH_DISABLE_AUDIT_LOG": "false" if audited else "true",
        **(env_extra or {}),
    }
    command = (
        [a.replace("{port}", str(port)) for a in argv]
        if argv is not None
        else [sys.executable, "-m", "pdvault", "serve"]
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log)  # noqa: S603
    server = Server(label, f"http://127.0.0.1:{port}", process, log_path)
    if wait:
        wait_healthy(server)
    return server


def wait_healthy(server: Server) -> None:
    """Until ``/healthz`` answers 200; a server that exits or takes over 60 s breaks the run."""
    label, process, log_path = server.label, server.process, server.log_path
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise HarnessError(f"{label} server exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_server(server)
    raise HarnessError(f"{label} server did not become healthy within 60 s")


def cpu_seconds(server: Server) -> float:
    """User + system CPU of the server and its worker processes so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    root = server.process.pid
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        pid, ppid = int(stat.parent.name), int(fields[1])
        if root in (pid, ppid):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
