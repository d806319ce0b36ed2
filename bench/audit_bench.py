"""Benchmark of the tamper-evident access log (issue 4): is the log a bottleneck?

Run from the repository root::

    .venv/bin/python bench/audit_bench.py --engine both          # the real run (~7 min)
    .venv/bin/python bench/audit_bench.py --engine both --smoke  # harness check (< 1 min)

Two measurements per engine, each in a fresh database (SQLite: a temporary file; PostgreSQL:
``pdvault_bench_<random>`` created on ``--postgres-url`` and dropped afterwards):

1. Reads. Two real servers (``python -m pdvault serve``) on one database, one normal and one
   with ``PDVAULT_BENCH_DISABLE_AUDIT_LOG=true``, driven alternately (A B, B A, A B, ...: drift
   cancels out) from this process with ``GET /v1/customers/{random id}?purpose=
   order_confirmation`` as an employee over 32 keep-alive connections (wrk when installed,
   ``apt-get install -y wrk``; else an httpx client). Reported: req/s, p50/p95/p99 and the
   ratio audited/unaudited. Target: ratio >= 0.8.
2. Verify. A valid log of ``--events`` events from 8 writers, chained with
   ``pdvault.audit.chain``, bulk-loaded (not through HTTP), with one signed checkpoint, is
   checked by ``pdvault.audit.verify.verify_log``. Reported: events/s. Target: >= 500,000/s.
   ``ok`` and ``checked == events`` are asserted: a correctness check, never a timing one.

The machine is shared and noisy (2 cores), so figures are only compared within one run.
Writes ``bench/results/audit-<date>.json`` and the generated part of
``docs/performance-audit.md`` (not with ``--smoke`` or ``--no-write``). Exits non-zero only
when the harness itself breaks (a server does not start, a request fails, verify does not
report ok), never because a target is missed.
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
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from audit_harness.common import (
    CONCURRENCY,
    REPORT,
    RESULTS_DIR,
    ROOT,
    WRITERS,
    EngineFigures,
    HarnessError,
    Options,
)
from audit_harness.infra import create_database, drop_database
from audit_harness.reads import bench_reads
from audit_harness.report import machine, report_section, table, write_report
from audit_harness.verify_rate import bench_verify


def run_engine(engine: str, opts: Options, workdir: Path) -> EngineFigures:
    figures = EngineFigures(engine)
    if "reads" in opts.parts:
        db = create_database(engine, workdir, opts.postgres_url)
        try:
            figures.reads = bench_reads(db, opts, workdir)
        finally:
            drop_database(db)
    if "verify" in opts.parts:
        db = create_database(engine, workdir, opts.postgres_url)
        try:
            figures.verify = bench_verify(db, opts)
        finally:
            drop_database(db)
    return figures


def parse_args(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--part", choices=["reads", "verify", "all"], default="all")
    p.add_argument("--events", type=int, default=1_000_000, help="events in the verified log")
    p.add_argument("--customers", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=6, help="alternating rounds per server")
    p.add_argument("--seconds", type=float, default=10.0, help="per round (wrk)")
    p.add_argument("--requests", type=int, default=4000, help="per round (httpx client)")
    p.add_argument("--client", choices=["auto", "wrk", "httpx"], default="auto")
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers, PostgreSQL")
    p.add_argument(
        "--sqlite-workers",
        type=int,
        default=1,
        help="uvicorn workers, SQLite (2 only contend for its write lock)",
    )
    p.add_argument("--verify-runs", type=int, default=3)
    p.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "PDVAULT_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
        help="server and admin database where pdvault_bench_<random> is created",
    )
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness")
    p.add_argument("--no-write", action="store_true", help="print only; write no files")
    p.add_argument("--seed", type=int, default=20261125)
    a = p.parse_args(argv)
    client = a.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "httpx"
    opts = Options(
        engines=["sqlite", "postgresql"] if a.engine == "both" else [a.engine],
        parts={"reads", "verify"} if a.part == "all" else {a.part},
        events=a.events,
        customers=a.customers,
        rounds=a.rounds,
        seconds=a.seconds,
        requests=a.requests,
        client=client,
        workers=a.workers,
        sqlite_workers=a.sqlite_workers,
        verify_runs=a.verify_runs,
        postgres_url=a.postgres_url,
        smoke=a.smoke,
        write=not a.no_write,
        seed=a.seed,
    )
    if a.smoke:
        opts.events, opts.customers, opts.requests = 20_000, 200, 300
        opts.rounds, opts.seconds, opts.verify_runs = 2, 1.0, 1
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = datetime.now(UTC)
    command = shlex.join([Path(sys.executable).as_posix(), *sys.orig_argv[1:]])
    doc: dict[str, Any] = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "smoke": opts.smoke,
        "machine": machine(opts),
        "settings": {
            "concurrency": CONCURRENCY,
            "client": opts.client,
            "rounds": opts.rounds,
            "seconds_per_round": opts.seconds if opts.client == "wrk" else None,
            "requests_per_round": opts.requests if opts.client == "httpx" else None,
            "customers": opts.customers,
            "events": opts.events,
            "writers": WRITERS,
            "verify_runs": opts.verify_runs,
        },
    }
    results: list[EngineFigures] = []
    try:
        with tempfile.TemporaryDirectory(prefix="pdvault-bench-") as tmp:
            for engine in opts.engines:
                print(f"== {engine}", flush=True)
                results.append(run_engine(engine, opts, Path(tmp)))
    except HarnessError as exc:
        print(f"audit_bench: harness broke: {exc}", file=sys.stderr)
        return 2
    doc["duration_seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    doc["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    doc["engines"] = {
        fig.engine: {
            "reads": None
            if fig.reads is None
            else {**asdict(fig.reads), "target_met": fig.reads.met},
            "verify": None
            if fig.verify is None
            else {**asdict(fig.verify), "target_met": fig.verify.met},
        }
        for fig in results
    }
    print()
    print(table(results))
    if opts.write and not opts.smoke:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = RESULTS_DIR / f"audit-{started.strftime('%Y-%m-%d')}.json"
        doc["results_file"] = out.relative_to(ROOT).as_posix()
        out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        write_report(report_section(doc, results))
        print(f"\nwrote {doc['results_file']} and {REPORT.relative_to(ROOT).as_posix()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
