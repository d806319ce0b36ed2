"""Real faults on real components: a PostgreSQL cluster of the tests' own, a real
``pdvault serve`` that can be killed, a tmpfs that can fill up or turn read-only.

The cluster is ``initdb``-ed into a temporary directory and listens on 127.0.0.1 on a port of
its own, so stopping it never disturbs the shared server other tests use. PostgreSQL refuses
to run as root, so its binaries run as the ``postgres`` OS user. Under ``CI=true`` a cluster
that cannot be started is a failure, never a skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring
from pdvault.customers.models import Customer
from pdvault.policy import Role
from pdvault.principals.bootstrap import create_principal_with_token
from pdvault.principals.schemas import PrincipalIn
from tests.conftest import IN_CI
from tests.helpers import cli_env, free_port

READ = {"purpose": "order_confirmation"}


def unavailable(reason: str) -> None:
    """A missing facility: a failure in CI, a skip naming it on a developer's machine."""
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


# -- a PostgreSQL cluster of our own ----------------------------------------------------------


def pg_bindir() -> Path | None:
    candidates: list[str] = []
    if shutil.which("pg_config"):
        out = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if out:
            candidates.append(out)
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    return None


@dataclass
class Cluster:
    bindir: Path
    root: Path
    port: int
    as_user: list[str] = field(default_factory=list)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, wait: bool = True) -> None:
        """Start the server; with ``wait``, return once it accepts connections."""
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.root} -c fsync=off "
            "-c synchronous_commit=on -c full_page_writes=off -c max_connections=100"
        )
        waiting = ["-w", "-t", "30"] if wait else ["-W"]
        done = self._ctl("start", *waiting, "-l", str(self.root / "log"), "-o", options)
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr.strip()} {self.log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        done = self._ctl("stop", "-w", "-t", "30", "-m", mode)
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl stop failed: {done.stderr.strip()}")

    def running(self) -> bool:
        return self._ctl("status").returncode == 0

    def log_tail(self) -> str:
        try:
            return (self.root / "log").read_text()[-1500:]
        except OSError:
            return ""

    def accepts_connections(self, timeout: float = 1.0) -> bool:
        import asyncpg

        async def probe() -> None:
            conn = await asyncpg.connect(
                host="127.0.0.1", port=self.port, user="postgres", timeout=timeout
            )
            await conn.close()

        try:
            asyncio.run(probe())
        except Exception:
            return False
        return True

    def create_database(self) -> str:
        """A fresh, migrated database on this cluster; returns its URL."""
        from tests.conftest import _pg_admin

        name = f"faults_{secrets.token_hex(4)}"
        asyncio.run(_pg_admin(self.url(), f'CREATE DATABASE "{name}"'))
        url = self.url(name)
        from pdvault.migrate import upgrade

        upgrade(url)
        return url


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    bindir = pg_bindir()
    if bindir is None:
        unavailable("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    assert bindir is not None
    as_user: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            unavailable("running as root without runuser: cannot start PostgreSQL as postgres")
        as_user = [str(runuser), "-u", "postgres", "--"]
    # Not under pytest's 0700 basetemp: the postgres user must be able to reach it.
    root = Path(tempfile.mkdtemp(prefix="pdvault-faults-pg-"))
    try:
        if as_user:
            shutil.chown(root, user="postgres", group="postgres")
        root.chmod(0o700)
        cluster = Cluster(bindir, root, free_port(), as_user)
        made = subprocess.run(
            [
                *as_user,
                str(bindir / "initdb"),
                "-D",
                str(cluster.datadir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if made.returncode != 0:
            unavailable(f"initdb failed: {made.stderr.strip()[-500:]}")
        try:
            cluster.start()
        except RuntimeError as exc:
            unavailable(str(exc))
        yield cluster
    finally:
        if (root / "data" / "postmaster.pid").exists():
            subprocess.run(
                [*as_user, str(bindir / "pg_ctl"), "-D", str(root / "data"), "stop", "-m", "i"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def running_cluster(pg_cluster: Cluster) -> Cluster:
    """The cluster, started again if an earlier test left it stopped."""
    if not pg_cluster.running():
        pg_cluster.start()
    return pg_cluster


# -- a real pdvault serve that can be SIGKILLed ------------------------------------------------


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the whole process group: the uvicorn supervisor and every worker."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        # A worker the supervisor could not reap is still in the group: take it down too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def server_env(database_url: str, keyring: Keyring, data_dir: Path, **extra: str) -> dict[str, str]:
    ours = {
        "PDVAULT_DATABASE_URL": database_url,
        "PDVAULT_KEYS_JSON": keyring.to_json(),
        "PDVAULT_DATA_DIR": str(data_dir),
        "PDVAULT_HOST": "127.0.0.1",
        "PDVAULT_LOG_LEVEL": "WARNING",
    }
    return cli_env(**{**ours, **extra})


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """Start ``pdvault serve`` in its own process group; every one is stopped at teardown."""
    started: list[Server] = []

    def _serve(database_url: str, keyring: Keyring, workers: int = 2, **extra: str) -> Server:
        port = free_port()
        log_path = tmp_path / f"serve-{port}.log"
        env = server_env(
            database_url,
            keyring,
            tmp_path / "data",
            PDVAULT_PORT=str(port),
            PDVAULT_WORKERS=str(workers),
            **extra,
        )
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pdvault", "serve"],
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        server = Server(f"http://127.0.0.1:{port}", proc, log_path)
        started.append(server)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {server.log()}")
            try:
                if httpx.get(f"{server.base_url}/readyz", timeout=2).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready within 60 s: {server.log()}")

    yield _serve
    for server in started:
        server.stop()


def admin_token(database_url: str) -> dict[str, str]:
    settings = Settings(database_url=database_url, _env_file=None)  # type: ignore[call-arg]
    token = asyncio.run(
        create_principal_with_token(settings, PrincipalIn(name="faults-admin", role=Role.ADMIN), 1)
    )
    return {"Authorization": f"Bearer {token}"}


def role_token(base_url: str, admin: dict[str, str], role: str) -> dict[str, str]:
    with httpx.Client(base_url=base_url, timeout=10) as c:
        r = c.post("/v1/principals", json={"name": f"faults-{role}", "role": role}, headers=admin)
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        r = c.post(f"/v1/principals/{pid}/tokens", json={"expires_in_days": 1}, headers=admin)
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}


def values_of(body: dict[str, Any]) -> list[str]:
    """Every form of a customer's personal values that must never show in a problem."""
    digits = "".join(ch for ch in body["phone"] if ch.isdigit())
    return [body["full_name"], body["email"], body["address"], digits, "+84" + digits[1:]]


async def customer_ids(url: str) -> set[str]:
    """The ids of every customer row, read over a connection of its own."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return {str(v) for v in (await conn.scalars(select(Customer.id))).all()}
    finally:
        await engine.dispose()
