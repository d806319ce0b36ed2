"""Driving load from a separate process: wrk with bench/perf.lua, else a bounded async client.

One round = one request kind against one server for a fixed time (wrk) or a fixed number of
requests (the httpx fallback, used when wrk is not installed, e.g. in CI). Every response must
be 2xx: a failed request breaks the harness instead of flattering a figure.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from audit_harness.common import CONCURRENCY, HarnessError, Round
from audit_harness.infra import Server, cpu_seconds

ROOT = Path(__file__).resolve().parents[2]
LUA = ROOT / "bench" / "perf.lua"
KINDS = ("read", "partner", "search", "audit", "create", "healthz")
READ_KINDS = ("read", "partner", "search", "audit")
# The read kinds the lean baseline serves (bench/lean_app.py); the audit listing has none.
LEAN_KINDS = ("read", "partner", "search")


@dataclass
class Target:
    """What one kind of request needs: a token and the keys (ids or phones) to pick from."""

    kind: str
    token: str
    keys_file: Path | None
    keys: list[str]


def _ms(us: float) -> float:
    return round(us / 1000, 3)


def wrk_round(server: Server, target: Target, seconds: float, allow_empty: bool = False) -> Round:
    """One wrk run. ``allow_empty`` (reads during rewrap): a round with failed requests or none
    completed (reads starved while rewrap holds SQLite's write lock) is a figure, not a broken
    harness: only successful requests count, and the failures are kept in ``failed``."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise HarnessError("wrk not found")
    env = {
        **os.environ,
        "BENCH_KIND": target.kind,
        "BENCH_TOKEN": target.token,
        "BENCH_KEYS_FILE": str(target.keys_file or ""),
    }
    argv = [wrk, "-t2", f"-c{CONCURRENCY}", f"-d{max(1, round(seconds))}s", "--timeout", "30s"]
    argv += ["-s", str(LUA), server.base_url]
    done = subprocess.run(  # noqa: S603 - fixed argv
        argv, env=env, capture_output=True, text=True, check=False, timeout=seconds + 120
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise HarnessError(f"wrk failed ({done.returncode}): {done.stderr[-500:]}")
    out = json.loads(line.removeprefix("BENCH_JSON "))
    errors = {k: out[k] for k in ("non2xx", "connect_errors", "read_errors", "timeouts")}
    failed = sum(errors.values())
    if not allow_empty and (failed or out["requests"] == 0):
        raise HarnessError(
            f"{server.label} {target.kind}: failed requests {errors}; see {server.log_path}"
        )
    ok = int(out["requests"] - out["non2xx"])
    if ok <= 0:
        empty = Round(f"{server.label}:{target.kind}", 0, out["duration_us"] / 1e6, 0, 0, 0)
        empty.failed = failed  # type: ignore[attr-defined]
        return empty
    result = Round(
        f"{server.label}:{target.kind}",
        ok,
        out["duration_us"] / 1e6,
        _ms(out["p50_us"]),
        _ms(out["p95_us"]),
        _ms(out["p99_us"]),
    )
    result.failed = failed  # type: ignore[attr-defined]
    return result


def _request(target: Target, rng: random.Random) -> Callable[[], tuple[str, str, str | None]]:
    counter = itertools.count()
    salt = secrets.token_hex(4)

    def make() -> tuple[str, str, str | None]:
        k = target.kind
        if k == "read":
            path = f"/v1/customers/{rng.choice(target.keys)}?purpose=order_confirmation"
            return "GET", path, None
        if k == "partner":
            path = f"/v1/partner/customers/{rng.choice(target.keys)}?purpose=order_fulfillment"
            return "GET", path, None
        if k == "search":
            body = {"phone": rng.choice(target.keys), "purpose": "order_confirmation"}
            return "POST", "/v1/customers/search", json.dumps(body)
        if k == "audit":
            return "GET", "/v1/audit/events?limit=50", None
        if k == "healthz":
            return "GET", "/healthz", None
        n = next(counter)
        body = {
            "full_name": "Nguyen Van Mau",
            "phone": f"090{n % 10_000_000:07d}",
            "email": f"bench.{salt}.{n}@example.com",
            "address": "So 1 Duong Vi Du, Ha Noi",
            "consents": {"processing": True, "marketing": False},
            "policy_version": "2024-01",
        }
        return "POST", "/v1/customers", json.dumps(body)

    return make


async def _httpx_round(
    server: Server, target: Target, requests: int, rng: random.Random, allow_empty: bool = False
) -> Round:
    make = _request(target, rng)
    remaining = iter(range(requests))
    latencies: list[float] = []
    failures: list[int] = []
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    headers = {"Authorization": f"Bearer {target.token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=headers, limits=limits, timeout=30
    ) as client:

        async def worker() -> None:
            for _ in remaining:  # one shared iterator: `requests` in all
                method, path, body = make()
                started = time.perf_counter()
                try:
                    r = await client.request(method, path, content=body)
                except httpx.HTTPError as exc:
                    tail = server.log_path.read_text()[-1500:]
                    raise HarnessError(
                        f"{server.label} {target.kind}: {type(exc).__name__} {exc}; "
                        f"exit code {server.process.poll()}; log: {tail}"
                    ) from exc
                latencies.append(time.perf_counter() - started)
                if r.status_code // 100 != 2:
                    failures.append(r.status_code)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    if failures and not allow_empty:
        raise HarnessError(
            f"{server.label} {target.kind}: {len(failures)} failed, e.g. {failures[0]}; "
            f"see {server.log_path}"
        )
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    result = Round(
        f"{server.label}:{target.kind}",
        requests,
        elapsed,
        round(q[49] * 1e3, 3),
        round(q[94] * 1e3, 3),
        round(q[98] * 1e3, 3),
    )
    result.requests -= len(failures)
    result.failed = len(failures)  # type: ignore[attr-defined]
    return result


@dataclass
class Driver:
    client: str  # wrk | httpx
    seconds: float
    requests: int
    seed: int
    warmups: bool = True

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - picks benchmark keys, not secrets

    def warmup(self, server: Server, target: Target) -> None:
        if self.warmups:
            self.round(server, target, warmup=True)

    def round(
        self, server: Server, target: Target, *, warmup: bool = False, allow_empty: bool = False
    ) -> Round:
        before = cpu_seconds(server)
        if self.client == "wrk":
            seconds = min(2.0, self.seconds) if warmup else self.seconds
            result = wrk_round(server, target, seconds, allow_empty)
        else:
            count = min(100, self.requests) if warmup else self.requests
            result = asyncio.run(_httpx_round(server, target, count, self.rng, allow_empty))
        result.cpu_seconds = cpu_seconds(server) - before
        return result
