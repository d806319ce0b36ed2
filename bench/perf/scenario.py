"""One engine, end to end: databases, loads, servers, the measured rounds, rewrap, verify."""

from __future__ import annotations

import asyncio
import json
import secrets
import statistics
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from audit_harness.common import CONCURRENCY, HarnessError, Round
from audit_harness.common import Options as AuditOptions
from audit_harness.infra import (
    BenchDatabase,
    Server,
    create_database,
    drop_database,
    pool_size,
    start_server,
    stop_server,
    wait_for_connections,
    wait_healthy,
)
from audit_harness.reads import summarize
from audit_harness.verify_rate import bench_verify

from pdvault.config import Settings
from pdvault.crypto.keyring import new_keyring, write_keyring
from pdvault.db import make_engine, make_sessionmaker
from pdvault.policy import Role
from pdvault.principals import service as principals
from pdvault.principals.bootstrap import create_principal_with_token
from pdvault.principals.schemas import PrincipalIn
from perf.data import fake_customer, load_customers
from perf.load import LEAN_KINDS, READ_KINDS, ROOT, Driver, Target


@dataclass
class PerfOptions:
    engines: list[str]
    parts: set[str]  # reads, import, rewrap, verify
    sizes: list[int]
    rounds: int
    seconds: float
    requests: int
    client: str
    workers: int
    sqlite_workers: int
    assigned: int
    import_batches: int
    import_batch_size: int
    import_clients: int
    sqlite_import_clients: int
    rewrap_batch: int
    events: int
    verify_runs: int
    postgres_url: str
    smoke: bool
    write: bool
    seed: int
    load_processes: int = 2
    old_baseline: bool = True  # bench/baseline_app.py beside the lean baseline (issue 17)
    progress: list[str] = field(default_factory=list)


_T0 = time.monotonic()


def say(engine: str, text: str) -> None:
    print(f"  [{engine} {time.monotonic() - _T0:6.1f} s] {text}", flush=True)


# -- principals and the partner set-up ------------------------------------------------------


@dataclass
class Tokens:
    employee: str
    storefront: str
    auditor: str
    admin: str
    storefront_id: Any = None
    partner: str = ""


async def _principals(db: BenchDatabase) -> Tokens:
    """One principal and token per role the bench uses, in one session."""
    engine = make_engine(db.url, pool_size=1)
    made: dict[Role, str] = {}
    try:
        async with make_sessionmaker(engine)() as session:
            for role in (Role.EMPLOYEE, Role.STOREFRONT, Role.AUDITOR, Role.ADMIN):
                p = await principals.create_principal(
                    session, PrincipalIn(name=f"bench-{role.value}", role=role)
                )
                made[role] = (await principals.issue_token(session, p, 7)).token
                if role is Role.STOREFRONT:
                    storefront_id = p.id
            await session.commit()
    finally:
        await engine.dispose()
    return Tokens(
        made[Role.EMPLOYEE],
        made[Role.STOREFRONT],
        made[Role.AUDITOR],
        made[Role.ADMIN],
        storefront_id,
    )


def _ok(r: httpx.Response, what: str) -> Any:
    if r.status_code // 100 != 2:
        raise HarnessError(f"{what}: {r.status_code} {r.text[:300]}")
    return r.json()


def make_partner(vault: Server, db: BenchDatabase, workdir: Path, tokens: Tokens) -> str:
    """A partner with a grant (full_name and phone masked, address plain) through the API, and
    a partner principal (``tokens.partner``); returns the partner id."""
    now = datetime.now(UTC)
    admin = {"Authorization": f"Bearer {tokens.admin}"}
    with httpx.Client(base_url=vault.base_url, timeout=60, headers=admin) as http:
        body = {"name": f"Giao Hang Mau {secrets.token_hex(3)}", "contract_ref": "HD-B-1"}
        pid = str(_ok(http.post("/v1/partners", json=body), "create partner")["id"])
        grant = {
            "contract_ref": "HD-B-1",
            "purposes": ["order_fulfillment"],
            "fields": {"full_name": "masked", "phone": "masked", "address": "plain"},
            "valid_from": (now - timedelta(days=1)).isoformat(),
            "valid_until": (now + timedelta(days=30)).isoformat(),
        }
        _ok(http.post(f"/v1/partners/{pid}/grants", json=grant), "create grant")
    settings = Settings(database_url=db.url, data_dir=workdir / "data", _env_file=None)
    tokens.partner = asyncio.run(
        create_principal_with_token(
            settings, PrincipalIn(name="bench-partner", role=Role.PARTNER, partner_id=pid), 7
        )
    )
    return pid


def assign(vault: Server, tokens: Tokens, pid: str, ids: list[str], count: int) -> list[str]:
    """``count`` customers spread over ``ids`` assigned to the partner (by an employee, through
    the API): the ids the partner may read."""
    expires = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    step = max(1, len(ids) // count)
    chosen = ids[::step][:count]
    employee = {"Authorization": f"Bearer {tokens.employee}"}
    with httpx.Client(base_url=vault.base_url, timeout=60, headers=employee) as http:
        for n, cid in enumerate(chosen):
            body = {
                "customer_id": cid,
                "purpose": "order_fulfillment",
                "reference": f"DH-{n:06d}",
                "expires_at": expires,
            }
            _ok(http.post(f"/v1/partners/{pid}/assignments", json=body), "assign")
    return chosen


# -- servers ---------------------------------------------------------------------------------


@dataclass
class Servers:
    """The vault and what it is compared with, all by the same uvicorn and worker count. At
    most two servers run at once: three pools of 16 connections per worker would fill
    PostgreSQL's 100 (``max_connections``) on a machine others share."""

    vault: Server
    lean: Server | None
    old_baseline: Server | None = None  # bench/baseline_app.py, while --old-baseline is on


def _bench_app(
    stack: ExitStack, label: str, module: str, db: BenchDatabase, keyring: Path, workdir: Path,
    workers: int,
) -> Server:  # fmt: skip
    argv = [
        sys.executable, "-m", "uvicorn", f"{module}:create_app", "--factory",
        "--app-dir", str(ROOT / "bench"), "--host", "127.0.0.1", "--port", "{port}",
        "--workers", str(workers), "--log-level", "warning", "--no-access-log",
        "--no-proxy-headers",
    ]  # fmt: skip
    server = start_server(
        label,
        db,
        keyring,
        workdir,
        workers,
        audited=False,
        argv=argv,
        env_extra={"BENCH_DATABASE_URL": db.url},
        wait=False,
    )
    stack.callback(stop_server, server)
    return server


def start_servers(
    stack: ExitStack, db: BenchDatabase, keyring: Path, workdir: Path, workers: int
) -> Servers:
    """``pdvault serve`` and the lean baseline, started at once (their imports overlap)."""
    vault = start_server("vault", db, keyring, workdir, workers, audited=True, wait=False)
    stack.callback(stop_server, vault)
    lean = _bench_app(stack, "lean", "lean_app", db, keyring, workdir, workers)
    wait_healthy(vault)
    wait_healthy(lean)
    return Servers(vault, lean)


def swap_baseline(
    stack: ExitStack, servers: Servers, db: BenchDatabase, keyring: Path, workdir: Path,
    workers: int,
) -> Servers:  # fmt: skip
    """The lean baseline for the old one, or back: whichever runs is stopped, the other
    started (see ``Servers`` for why not both)."""
    if servers.lean is not None:
        stop_server(servers.lean)
        old = _bench_app(stack, "baseline", "baseline_app", db, keyring, workdir, workers)
        wait_healthy(old)
        return Servers(servers.vault, None, old)
    if servers.old_baseline is not None:
        stop_server(servers.old_baseline)
    lean = _bench_app(stack, "lean", "lean_app", db, keyring, workdir, workers)
    wait_healthy(lean)
    return Servers(servers.vault, lean)


# -- measured rounds -------------------------------------------------------------------------


def _figures(rounds: list[Round], label: str) -> dict[str, Any]:
    return asdict(summarize(label, rounds))


def _series(
    servers: Servers, kind: str, targets: dict[str, Target]
) -> list[tuple[str, Server, Target]]:
    """What one read kind is measured on: the vault, and beside the lean baseline the vault's
    own /healthz and the lean baseline (if it serves the kind); else the old baseline."""
    out = [("vault", servers.vault, targets[kind])]
    if servers.lean is not None:
        out.append(("healthz", servers.vault, targets["healthz"]))
        if kind in LEAN_KINDS:
            out.append(("lean", servers.lean, targets[kind]))
    if servers.old_baseline is not None:
        out.append(("old_baseline", servers.old_baseline, targets[kind]))
    return out


def _ratios(figures: dict[str, Any], rounds: dict[str, list[Round]]) -> dict[str, Any]:
    """The vault's req/s over each comparison's, overall and round by round."""
    out: dict[str, Any] = {}
    for name in ("healthz", "lean", "old_baseline"):
        if name not in figures:
            continue
        out[f"{name}_ratio"] = round(figures["vault"]["rps"] / figures[name]["rps"], 3)
        pairs = zip(rounds["vault"], rounds[name], strict=True)
        out[f"{name}_round_ratios"] = [round(v.rps / o.rps, 3) for v, o in pairs]
    if "lean" in figures:
        lean_cpu, vault_cpu = figures["lean"], figures["vault"]
        out["lean_cpu_ratio"] = round(
            lean_cpu["cpu_us_per_request"] / max(1, vault_cpu["cpu_us_per_request"]), 3
        )
    return out


def read_rounds(
    engine: str,
    size: int,
    driver: Driver,
    servers: Servers,
    targets: dict[str, Target],
    rounds_n: int,
) -> dict[str, Any]:
    """Each read kind: the vault, its /healthz and the baselines in turn, the order reversed
    every other round (A B C, C B A, ...) so drift cancels."""
    out: dict[str, Any] = {}
    for kind in READ_KINDS:
        series = _series(servers, kind, targets)
        for name, server, target in series:
            if name != "healthz":
                driver.warmup(server, target)
        rounds: dict[str, list[Round]] = {name: [] for name, _, _ in series}
        for n in range(rounds_n):
            for name, server, target in series if n % 2 == 0 else series[::-1]:
                r = driver.round(server, target)
                rounds[name].append(r)
                say(
                    engine,
                    f"{size:>9,} {kind:>7} {name:>12} round {n + 1}/{rounds_n}: "
                    f"{r.rps:8.1f} req/s  p50 {r.p50_ms:.1f}  p99 {r.p99_ms:.1f} ms",
                )
        figures = {name: _figures(rs, rs[0].server) for name, rs in rounds.items()}
        out[kind] = {**figures, **_ratios(figures, rounds)}
    return out


def merge_old_baseline(reads: dict[str, Any], beside_old: dict[str, Any]) -> None:
    """The old baseline's figures and ratio into each kind's, with the vault's own figures of
    those rounds (``vault_beside_old_baseline``): its ratio is taken within them."""
    for kind, r in beside_old.items():
        reads[kind]["vault_beside_old_baseline"] = r["vault"]
        for key in ("old_baseline", "old_baseline_ratio", "old_baseline_round_ratios"):
            reads[kind][key] = r[key]


def create_rounds(
    engine: str, size: int, driver: Driver, vault: Server, target: Target, rounds_n: int
) -> dict[str, Any]:
    driver.warmup(vault, target)
    rounds = []
    for n in range(rounds_n):
        r = driver.round(vault, target)
        rounds.append(r)
        say(engine, f"{size:>9,}  create    vault round {n + 1}/{rounds_n}: {r.rps:8.1f} req/s")
    return {"vault": _figures(rounds, "vault:create")}


async def _import(
    vault: Server, token: str, batches: int, size: int, clients: int, salt: str
) -> dict[str, Any]:
    bodies = [
        json.dumps(
            {"items": [fake_customer(10_000_000 + b * size + i, salt) for i in range(size)]}
        ).encode()
        for b in range(batches)
    ]
    queue = iter(bodies)
    created = 0
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=vault.base_url, headers=headers, timeout=300) as http:

        async def client() -> None:
            nonlocal created
            for body in queue:
                t0 = time.perf_counter()
                r = await http.post("/v1/customers/batch", content=body)
                latencies.append(time.perf_counter() - t0)
                results = _ok(r, "batch import")["results"]
                bad = [x for x in results if x["status"] != 201]
                if bad:
                    raise HarnessError(f"batch import: {len(bad)} items refused, e.g. {bad[0]}")
                created += len(results)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {
        "customers": created,
        "batches": batches,
        "batch_size": size,
        "clients": clients,
        "seconds": round(elapsed, 3),
        "customers_per_second": round(created / elapsed),
        "batch_p50_ms": round(statistics.median(latencies) * 1e3, 1),
        "batch_max_ms": round(max(latencies) * 1e3, 1),
    }


def _cli_env(db: BenchDatabase, keyring: Path, workdir: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PDVAULT_")}
    env.update(
        PDVAULT_DATABASE_URL=db.url,
        PDVAULT_KEYRING=str(keyring),
        PDVAULT_DATA_DIR=str(workdir / "data"),
        PDVAULT_LOG_LEVEL="WARNING",
    )
    return env


def rewrap_under_load(
    engine: str,
    opts: PerfOptions,
    driver: Driver,
    db: BenchDatabase,
    keyring: Path,
    workdir: Path,
    vault: Server,
    target: Target,
    customers: int,
) -> dict[str, Any]:
    """keys rotate, reads before, then keys rewrap (a real CLI subprocess) with reads running."""
    env = _cli_env(db, keyring, workdir)
    pdvault = [sys.executable, "-m", "pdvault"]
    rotated = subprocess.run(  # noqa: S603 - fixed argv
        [*pdvault, "keys", "rotate"], env=env, capture_output=True, text=True, timeout=120
    )
    if rotated.returncode != 0:
        raise HarnessError(f"keys rotate: {rotated.stderr[-500:]}")
    say(engine, "keys rotated")
    time.sleep(1.5)  # workers re-read the keyring file within 1 s
    before = [driver.round(vault, target) for _ in range(max(1, opts.rounds - 1))]
    rps_before = sum(r.requests for r in before) / sum(r.seconds for r in before)
    say(engine, f"reads before rewrap: {rps_before:.1f} req/s")
    log = (workdir / "rewrap.log").open("w")
    started = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        [*pdvault, "keys", "rewrap", "--quiet", "--batch", str(opts.rewrap_batch)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    finished: list[float] = []

    def wait() -> None:
        proc.wait()
        finished.append(time.perf_counter() - started)

    watcher = threading.Thread(target=wait, daemon=True)
    watcher.start()
    during: list[Round] = []
    short = Driver(driver.client, min(3.0, driver.seconds), max(50, driver.requests // 2), 7)
    try:
        while watcher.is_alive() or not during:
            during.append(short.round(vault, target, allow_empty=True))
            say(engine, f"reads during rewrap: {during[-1].rps:.1f} req/s")
            if time.perf_counter() - started > 1800:
                raise HarnessError("keys rewrap did not finish in 30 minutes")
    finally:
        if proc.poll() is None:  # the harness broke meanwhile: leave no rewrap behind
            proc.kill()
    watcher.join()
    log.close()
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise HarnessError(f"keys rewrap failed: {(workdir / 'rewrap.log').read_text()[-500:]}")
    moved = int(out.split()[1]) if out.startswith("rewrapped ") else -1
    if moved < customers:
        raise HarnessError(f"keys rewrap moved {moved} keys, expected at least {customers}")
    rps_during = sum(r.requests for r in during) / sum(r.seconds for r in during)
    return {
        "customers": customers,
        "keys_moved": moved,
        "batch": opts.rewrap_batch,
        "seconds": round(finished[0], 2),
        "keys_per_second": round(moved / finished[0]),
        "reads_rps_before": round(rps_before, 1),
        "reads_rps_during": round(rps_during, 1),
        "reads_p99_ms_during": max(r.p99_ms for r in during),
        "empty_rounds_during": sum(1 for r in during if r.requests == 0),
        "failed_reads_during": sum(getattr(r, "failed", 0) for r in during),
        "read_ratio": round(rps_during / rps_before, 3),
        "rounds_during": len(during),
    }


# -- one engine ------------------------------------------------------------------------------


def run_engine(engine: str, opts: PerfOptions, workdir: Path) -> dict[str, Any]:
    """One database and one pair of servers; the customers are topped up from one size to the
    next (the servers stay up: adding rows needs no restart), each size measured in turn."""
    out: dict[str, Any] = {"sizes": {}, "import": None, "rewrap": None, "verify": None}
    db = create_database(engine, workdir, opts.postgres_url)
    try:
        _measure_sizes(engine, opts, workdir, db, out)
    finally:
        drop_database(db)
    if "verify" in opts.parts:
        out["verify"] = _verify(engine, opts, workdir)
    return out


def _measure_sizes(
    engine: str, opts: PerfOptions, workdir: Path, db: BenchDatabase, out: dict[str, Any]
) -> None:
    keyring = workdir / f"keyring-{engine}.json"
    write_keyring(keyring, new_keyring(), replace=True)
    tokens = asyncio.run(_principals(db))
    salt = secrets.token_hex(3)
    workers = opts.sqlite_workers if engine == "sqlite" else opts.workers
    driver = Driver(opts.client, opts.seconds, opts.requests, opts.seed, warmups=not opts.smoke)
    ids: list[str] = []
    phones: list[str] = []
    if db.admin_url is not None:  # two servers' pools, filled, and a margin for the CLI
        pool = pool_size(workers)
        patience = 60.0 if opts.smoke else 600.0  # the smoke run has CI's 5 minutes in all
        wait_for_connections(db.admin_url, 2 * workers * pool + CONCURRENCY // 2, patience)
    with ExitStack() as stack:
        servers = start_servers(stack, db, keyring, workdir, workers)
        vault = servers.vault
        say(engine, "servers up")
        pid = make_partner(vault, db, workdir, tokens)
        for size in opts.sizes:
            loaded = load_customers(
                db, keyring.read_text(), len(ids), size, salt, tokens.storefront_id,
                opts.load_processes,
            )  # fmt: skip
            ids += loaded.ids
            phones += loaded.phones
            say(engine, f"loaded sealed customers up to {size:,} in {loaded.seconds:.1f} s")
            assigned = assign(vault, tokens, pid, ids, opts.assigned)
            say(engine, f"{len(assigned)} customers assigned to the partner")
            targets = {
                "read": Target("read", tokens.employee, _keys(workdir, "ids", ids), ids),
                "partner": Target(
                    "partner", tokens.partner, _keys(workdir, "assigned", assigned), assigned
                ),
                "search": Target(
                    "search", tokens.employee, _keys(workdir, "phones", phones), phones
                ),
                "audit": Target("audit", tokens.auditor, None, []),
                "create": Target("create", tokens.employee, None, []),
                "healthz": Target("healthz", tokens.employee, None, []),
            }
            result: dict[str, Any] = {
                "customers": size,
                "load_seconds": round(loaded.seconds, 1),
                "workers": workers,
            }
            if "reads" in opts.parts:
                result["reads"] = read_rounds(engine, size, driver, servers, targets, opts.rounds)
                if opts.old_baseline:
                    servers = swap_baseline(stack, servers, db, keyring, workdir, workers)
                    beside_old = read_rounds(engine, size, driver, servers, targets, opts.rounds)
                    if size != opts.sizes[-1]:  # the next size needs the lean one again
                        servers = swap_baseline(stack, servers, db, keyring, workdir, workers)
                    merge_old_baseline(result["reads"], beside_old)
                result["create"] = create_rounds(
                    engine, size, driver, vault, targets["create"], opts.rounds
                )
            out["sizes"][str(size)] = result
            if "import" in opts.parts and size == opts.sizes[0]:
                out["import"] = asyncio.run(
                    _import(
                        vault,
                        tokens.storefront,
                        opts.import_batches,
                        opts.import_batch_size,
                        opts.sqlite_import_clients if engine == "sqlite" else opts.import_clients,
                        salt,
                    )
                )
                say(engine, f"import: {out['import']['customers_per_second']:,} customers/s")
        if "rewrap" in opts.parts:
            out["rewrap"] = rewrap_under_load(
                engine, opts, driver, db, keyring, workdir, vault, targets["read"], len(ids)
            )
            say(engine, f"rewrap: {out['rewrap']['seconds']} s")


def _keys(workdir: Path, name: str, keys: list[str]) -> Path:
    path = workdir / f"{name}.txt"
    path.write_text("\n".join(keys) + "\n")
    return path


def _verify(engine: str, opts: PerfOptions, workdir: Path) -> dict[str, Any]:
    db = create_database(engine, workdir, opts.postgres_url)
    try:
        audit_opts = AuditOptions(
            engines=[engine],
            parts={"verify"},
            events=opts.events,
            customers=0,
            rounds=0,
            seconds=0,
            requests=0,
            client=opts.client,
            workers=opts.workers,
            sqlite_workers=opts.sqlite_workers,
            verify_runs=opts.verify_runs,
            postgres_url=opts.postgres_url,
            smoke=opts.smoke,
            write=False,
            seed=opts.seed,
        )
        return asdict(bench_verify(db, audit_opts))
    finally:
        drop_database(db)
