"""Read load: the same reads against the audited and the unaudited server."""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from audit_harness.common import (
    CONCURRENCY,
    LUA_SCRIPT,
    READ_PATH,
    HarnessError,
    Options,
    ReadFigures,
    Round,
    ServerFigures,
)
from audit_harness.infra import BenchDatabase, Server, cpu_seconds, start_server, stop_server
from pdvault.audit.models import AccessEvent
from pdvault.audit.signing import LogSigner
from pdvault.audit.verify import verify_log
from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring, new_keyring
from pdvault.db import make_engine
from pdvault.policy import Role
from pdvault.principals.bootstrap import create_principal_with_token
from pdvault.principals.schemas import PrincipalIn

# -- read load ----------------------------------------------------------------------------


def fake_customer(n: int) -> dict[str, Any]:
    """Clearly fake: example.com, a 09xx number, a placeholder name and street."""
    return {
        "full_name": "Nguyễn Văn Mẫu",
        "phone": f"09{n % 100_000_000:08d}",
        "email": f"khach.mau.{n}.{secrets.token_hex(3)}@example.com",
        "address": "Số 1 Đường Ví Dụ, Phường Mẫu, Hà Nội",
        "consents": {"processing": True, "marketing": False},
        "policy_version": "2024-01",
    }


def create_customers(server: Server, storefront_token: str, count: int) -> list[str]:
    ids: list[str] = []
    headers = {"Authorization": f"Bearer {storefront_token}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=120) as client:
        for start in range(0, count, 500):
            items = [fake_customer(n) for n in range(start, min(count, start + 500))]
            r = client.post("/v1/customers/batch", json={"items": items})
            if r.status_code != 200:
                raise HarnessError(f"batch create: {r.status_code} {r.text[:300]}")
            for result in r.json()["results"]:
                if result["status"] != 201:
                    raise HarnessError(f"batch item refused: {result}")
                ids.append(result["id"])
    return ids


def _ms(us: float) -> float:
    return round(us / 1000, 3)


def wrk_round(server: Server, token: str, ids_file: Path, seconds: float) -> Round:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise HarnessError("wrk not found")
    env = {**os.environ, "BENCH_TOKEN": token, "BENCH_IDS_FILE": str(ids_file)}
    argv = [
        wrk,
        "-t2",
        f"-c{CONCURRENCY}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA_SCRIPT),
        server.base_url,
    ]
    done = subprocess.run(  # noqa: S603 - fixed argv
        argv, env=env, capture_output=True, text=True, check=False, timeout=seconds + 120
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise HarnessError(f"wrk failed ({done.returncode}): {done.stderr[-500:]}")
    out = json.loads(line.removeprefix("BENCH_JSON "))
    errors = {k: out[k] for k in ("non2xx", "connect_errors", "read_errors", "timeouts")}
    if any(errors.values()) or out["requests"] == 0:
        raise HarnessError(f"{server.label}: failed requests {errors}; see {server.log_path}")
    return Round(
        server.label,
        int(out["requests"]),
        out["duration_us"] / 1e6,
        _ms(out["p50_us"]),
        _ms(out["p95_us"]),
        _ms(out["p99_us"]),
    )


async def _httpx_round(
    server: Server, token: str, ids: Sequence[str], requests: int, rng: random.Random
) -> Round:
    paths = iter([READ_PATH.format(id=rng.choice(ids)) for _ in range(requests)])
    latencies: list[float] = []
    failures: list[int] = []
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=headers, limits=limits, timeout=30
    ) as client:

        async def worker() -> None:
            for path in paths:  # one shared iterator: each path is taken once
                started = time.perf_counter()
                r = await client.get(path)
                latencies.append(time.perf_counter() - started)
                if r.status_code != 200:
                    failures.append(r.status_code)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    if failures:
        raise HarnessError(f"{server.label}: {len(failures)} failed requests, e.g. {failures[0]}")
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return Round(server.label, requests, elapsed, q[49] * 1e3, q[94] * 1e3, q[98] * 1e3)


def summarize(label: str, rounds: list[Round]) -> ServerFigures:
    mine = [r for r in rounds if r.server == label]
    total = sum(r.requests for r in mine)
    seconds = sum(r.seconds for r in mine)
    return ServerFigures(
        label,
        total,
        round(seconds, 3),
        round(total / seconds, 1),
        round(statistics.median(r.p50_ms for r in mine), 3),
        round(statistics.median(r.p95_ms for r in mine), 3),
        round(statistics.median(r.p99_ms for r in mine), 3),
        [round(r.rps, 1) for r in mine],
        round(1e6 * sum(r.cpu_seconds for r in mine) / total),
    )


async def _setup_principals(db: BenchDatabase, workdir: Path) -> tuple[str, str]:
    settings = Settings(
        database_url=db.url,
        data_dir=workdir / "data",
        _env_file=None,
    )
    employee = await create_principal_with_token(
        settings, PrincipalIn(name="bench-employee", role=Role.EMPLOYEE), 7
    )
    storefront = await create_principal_with_token(
        settings, PrincipalIn(name="bench-storefront", role=Role.STOREFRONT), 7
    )
    return employee, storefront


async def _verify_whole_log(db: BenchDatabase, keyring: Keyring) -> tuple[bool, int]:
    """The log the audited server wrote must verify, every event of it."""
    engine = make_engine(db.url, pool_size=1)
    try:
        async with engine.connect() as conn:
            count = int(await conn.scalar(select(func.count()).select_from(AccessEvent)) or 0)
        result = await verify_log(engine, LogSigner(keyring.signing_seed).public_raw)
    finally:
        await engine.dispose()
    return result.ok and result.checked == count, count


def bench_reads(db: BenchDatabase, opts: Options, workdir: Path) -> ReadFigures:
    keyring = new_keyring()
    employee, storefront = asyncio.run(_setup_principals(db, workdir))
    workers = opts.sqlite_workers if db.engine == "sqlite" else opts.workers
    use_wrk = opts.client == "wrk"
    rng = random.Random(opts.seed)  # noqa: S311 - picks benchmark ids, not secrets
    with ExitStack() as stack:
        audited = start_server("audited", db, keyring, workdir, workers, audited=True)
        stack.callback(stop_server, audited)
        unaudited = start_server("unaudited", db, keyring, workdir, workers, audited=False)
        stack.callback(stop_server, unaudited)
        ids = create_customers(audited, storefront, opts.customers)
        ids_file = workdir / "ids.txt"
        ids_file.write_text("\n".join(ids) + "\n")

        def one_round(server: Server, warmup: bool = False) -> Round:
            before = cpu_seconds(server)
            if use_wrk:
                seconds = min(2.0, opts.seconds) if warmup else opts.seconds
                result = wrk_round(server, employee, ids_file, seconds)
            else:
                count = min(200, opts.requests) if warmup else opts.requests
                result = asyncio.run(_httpx_round(server, employee, ids, count, rng))
            result.cpu_seconds = cpu_seconds(server) - before
            return result

        for server in (audited, unaudited):
            one_round(server, warmup=True)
        rounds: list[Round] = []
        for n in range(opts.rounds):
            order = (audited, unaudited) if n % 2 == 0 else (unaudited, audited)
            for server in order:
                result = one_round(server)
                rounds.append(result)
                print(
                    f"  [{db.engine}] round {n + 1}/{opts.rounds} {server.label:>9}: "
                    f"{result.rps:8.1f} req/s  p50 {result.p50_ms:.1f} ms  "
                    f"p99 {result.p99_ms:.1f} ms  "
                    f"cpu {1e6 * result.cpu_seconds / result.requests:.0f} us/req",
                    flush=True,
                )
    verified, logged = asyncio.run(_verify_whole_log(db, keyring))
    if not verified:
        raise HarnessError(f"{db.engine}: the log written by the audited server does not verify")
    a, u = summarize("audited", rounds), summarize("unaudited", rounds)
    pairs = zip(
        [r for r in rounds if r.server == "audited"],
        [r for r in rounds if r.server == "unaudited"],
        strict=True,
    )
    return ReadFigures(
        client="wrk" if use_wrk else "httpx",
        workers=workers,
        customers=len(ids),
        rounds=opts.rounds,
        audited=a,
        unaudited=u,
        ratio=round(a.rps / u.rps, 3),
        round_ratios=[round(x.rps / y.rps, 3) for x, y in pairs],
        cpu_ratio=round(u.cpu_us_per_request / a.cpu_us_per_request, 3),
        events_logged=logged,
        log_verified=verified,
    )
