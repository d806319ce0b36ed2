"""The performance benchmark (issues 8 and 17): the vault against its own ceiling and a lean
plain baseline, as ratios in one run.

Run from the repository root (PostgreSQL on 127.0.0.1:5432; ``apt-get install -y wrk``)::

    .venv/bin/python bench/run.py --engine both            # the full run (see docs/performance.md)
    .venv/bin/python bench/run.py --engine both --quick    # reads only, 10,000 customers, ~7 min
    .venv/bin/python bench/run.py --engine both --smoke    # harness check, tiny sizes, < 1 min

Per engine and per size (10,000 and 1,000,000 customers), in a fresh database (SQLite: a
temporary file; PostgreSQL: ``pdvault_bench_<random>``, dropped afterwards):

1. The customers are bulk-loaded, sealed by pdvault's own code (bench/perf/data.py), and the
   same customers in the clear into ``bench_plain_customers``.
2. Real servers on that database, same uvicorn and worker count (SQLite 1, PostgreSQL 2):
   ``pdvault serve``, ``bench/lean_app.py`` (FastAPI + one Core select of a plaintext row; no
   auth, policy, encryption, log or pdvault session) and, unless ``--no-old-baseline``,
   ``bench/baseline_app.py`` (issue 8's baseline). wrk (bench/perf.lua; else an httpx client)
   drives 32 connections, from its own process, through read by id, partner read (masked),
   search by phone and audit listing: per kind the vault, the vault's own ``/healthz``, the lean
   and the old baseline in turn, the order reversed every other round so drift cancels; then
   create. Reported: req/s, p50/p95/p99, server CPU per request, and the vault's req/s as a
   share of each of the others.
3. At the smallest size: the batch import rate through ``POST /v1/customers/batch``.
4. At the largest size: ``pdvault keys rotate``, then ``pdvault keys rewrap`` (real CLI
   subprocesses) while reads run; rewrap time and reads during / before.
5. Audit verify rate over a bulk-loaded valid log (bench/audit_harness/verify_rate.py).

Writes ``bench/results/performance-<date>.json`` and the generated section of
``docs/performance.md`` (not with ``--smoke`` or ``--no-write``). Exits non-zero only when the
harness breaks (2), or, with ``--smoke``, when a figure is missing (3): never over a target.
Where a read's time goes inside the server: bench/profile_reads.py (py-spy).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from audit_harness.common import CONCURRENCY, HarnessError
from audit_harness.infra import pool_size
from audit_harness.report import machine
from perf.load import ROOT
from perf.report import (
    REPORT,
    missing_figures,
    scale_figures,
    section,
    table,
    verdicts,
    write_report,
)
from perf.scenario import PerfOptions, run_engine

RESULTS_DIR = ROOT / "bench" / "results"


def parse_args(argv: Sequence[str] | None = None) -> PerfOptions:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument(
        "--part",
        action="append",
        choices=["reads", "import", "rewrap", "verify"],
        help="repeatable; default all",
    )
    p.add_argument("--sizes", default="10000,1000000", help="customers, comma-separated")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per server and kind")
    p.add_argument("--seconds", type=float, default=5.0, help="per round (wrk)")
    p.add_argument("--requests", type=int, default=1500, help="per round (httpx client)")
    p.add_argument("--client", choices=["auto", "wrk", "httpx"], default="auto")
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers, PostgreSQL")
    p.add_argument("--sqlite-workers", type=int, default=1, help="uvicorn workers, SQLite")
    p.add_argument(
        "--pool-size",
        type=int,
        help="database pool per server worker (default: its share of the 32 connections,\n"
        "at least 10); smaller when others hold PostgreSQL's connections",
    )
    p.add_argument("--assigned", type=int, default=500, help="customers assigned to the partner")
    p.add_argument("--import-batches", type=int, default=50)
    p.add_argument("--import-batch-size", type=int, default=1000)
    p.add_argument("--import-clients", type=int, default=4, help="concurrent, PostgreSQL")
    p.add_argument(
        "--sqlite-import-clients",
        type=int,
        default=1,
        help="concurrent, SQLite (it serialises writers: more only wait for the lock)",
    )
    p.add_argument("--rewrap-batch", type=int, default=2000, help="pdvault keys rewrap --batch")
    p.add_argument("--events", type=int, default=1_000_000, help="events in the verified log")
    p.add_argument("--verify-runs", type=int, default=3)
    p.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "PDVAULT_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
        help="server and admin database where pdvault_bench_<random> is created",
    )
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness")
    p.add_argument(
        "--quick",
        action="store_true",
        help="reads only, 10,000 customers, 2 rounds of 4 s: ~7 min for both engines\n"
        "(--part reads --sizes 10000 --rounds 2 --seconds 4); writes the report",
    )
    p.add_argument(
        "--old-baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run bench/baseline_app.py (issue 8's baseline) beside the lean one",
    )
    p.add_argument("--no-write", action="store_true", help="print only; write no files")
    p.add_argument("--seed", type=int, default=20261201)
    a = p.parse_args(argv)
    client = a.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "httpx"
    if a.pool_size is not None:  # read by bench/audit_harness/infra.py for every server
        os.environ["PDVAULT_BENCH_POOL_SIZE"] = str(a.pool_size)
    if a.quick:
        a.part, a.sizes, a.rounds, a.seconds = ["reads"], "10000", 2, 4.0
    opts = PerfOptions(
        engines=["sqlite", "postgresql"] if a.engine == "both" else [a.engine],
        parts=set(a.part or ["reads", "import", "rewrap", "verify"]),
        sizes=sorted(int(x) for x in a.sizes.split(",")),
        rounds=a.rounds,
        seconds=a.seconds,
        requests=a.requests,
        client=client,
        workers=a.workers,
        sqlite_workers=a.sqlite_workers,
        assigned=a.assigned,
        import_batches=a.import_batches,
        import_batch_size=a.import_batch_size,
        import_clients=a.import_clients,
        sqlite_import_clients=a.sqlite_import_clients,
        rewrap_batch=a.rewrap_batch,
        events=a.events,
        verify_runs=a.verify_runs,
        postgres_url=a.postgres_url,
        smoke=a.smoke,
        write=not a.no_write,
        seed=a.seed,
        old_baseline=a.old_baseline,
    )
    if a.smoke:
        opts.sizes, opts.rounds, opts.seconds, opts.requests = [100, 300], 1, 1.0, 30
        opts.assigned, opts.import_batches, opts.import_batch_size = 10, 2, 50
        opts.import_clients, opts.events, opts.verify_runs = 2, 5000, 1
        opts.sqlite_import_clients = 1
        opts.load_processes = 1
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = datetime.now(UTC)
    command = shlex.join([Path(sys.executable).as_posix(), *sys.orig_argv[1:]])
    doc: dict[str, Any] = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "smoke": opts.smoke,
        "machine": machine(opts),  # type: ignore[arg-type]
        "settings": {
            "concurrency": CONCURRENCY,
            "client": opts.client,
            "rounds": opts.rounds,
            "seconds_per_round": opts.seconds if opts.client == "wrk" else None,
            "requests_per_round": opts.requests if opts.client == "httpx" else None,
            "sizes": opts.sizes,
            "old_baseline": opts.old_baseline,
            "pool_size_per_worker": {
                "postgresql": pool_size(opts.workers),
                "sqlite": pool_size(opts.sqlite_workers),
            },
            "workers": {"postgresql": opts.workers, "sqlite": opts.sqlite_workers},
            "partner_assignments": opts.assigned,
            "import": {
                "batches": opts.import_batches,
                "batch_size": opts.import_batch_size,
                "clients": {
                    "postgresql": opts.import_clients,
                    "sqlite": opts.sqlite_import_clients,
                },
            },
            "rewrap_batch": opts.rewrap_batch,
            "events": opts.events,
        },
        "engines": {},
    }
    tmp = Path(tempfile.mkdtemp(prefix="pdvault-perf-"))
    try:
        for engine in opts.engines:
            print(f"== {engine}", flush=True)
            work = tmp / engine
            work.mkdir()
            figures = run_engine(engine, opts, work)
            figures["scale"] = scale_figures(figures)
            doc["engines"][engine] = figures
            if opts.write and not opts.smoke:  # each engine's figures kept as soon as done
                RESULTS_DIR.mkdir(parents=True, exist_ok=True)
                partial = RESULTS_DIR / f"performance-{started.strftime('%Y-%m-%d')}.partial.json"
                partial.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str))
    except HarnessError as exc:
        print(f"bench/run.py: harness broke: {exc}\n(server logs kept in {tmp})", file=sys.stderr)
        return 2
    shutil.rmtree(tmp, ignore_errors=True)
    doc["duration_seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    doc["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    doc["targets_met"] = verdicts(doc)
    print()
    print(table(doc))
    if opts.smoke:
        missing = missing_figures(doc, opts.parts, opts.sizes, opts.old_baseline)
        if missing:
            print(f"bench/run.py --smoke: figures missing: {missing}", file=sys.stderr)
            return 3
        print(f"\nsmoke: every figure produced in {doc['duration_seconds']} s")
        return 0
    if opts.write:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = RESULTS_DIR / f"performance-{started.strftime('%Y-%m-%d')}.json"
        doc["results_file"] = out.relative_to(ROOT).as_posix()
        out.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
        # The per-engine checkpoint is only for a run that breaks: the whole file supersedes it.
        (RESULTS_DIR / f"performance-{started.strftime('%Y-%m-%d')}.partial.json").unlink(
            missing_ok=True
        )
        write_report(section(doc))
        print(f"\nwrote {doc['results_file']} and {REPORT.relative_to(ROOT).as_posix()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
