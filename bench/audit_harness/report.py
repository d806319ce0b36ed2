"""The machine, the table, the JSON document and docs/performance-audit.md."""

from __future__ import annotations

import asyncio
import hashlib
import os
import platform
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from audit_harness.common import BEGIN_MARK, END_MARK, REPORT, ROOT, EngineFigures, Options
from audit_harness.infra import asyncpg_dsn


def _first_line(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv
            argv, capture_output=True, text=True, check=False, timeout=10
        )
    except OSError:
        return None
    out = (done.stdout or done.stderr).strip().splitlines()
    return out[0] if out else None


def _wrk_version() -> str | None:
    if shutil.which("wrk") is None:
        return None
    return (_first_line(["wrk", "--version"]) or "wrk").split(" [")[0]


def source_digest() -> str:
    """Which code was measured, uncommitted edits included: SHA-256 over src/pdvault/**.py."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "src" / "pdvault").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def machine(opts: Options) -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    info: dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": None,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "wrk": _wrk_version(),
        "git": _first_line(["git", "-C", str(ROOT), "describe", "--always", "--dirty"]),
        "source_sha256": source_digest(),
    }
    if "postgresql" in opts.engines:

        async def version() -> str:
            conn = await asyncpg.connect(asyncpg_dsn(opts.postgres_url))
            try:
                return str(await conn.fetchval("SHOW server_version"))
            finally:
                await conn.close()

        info["postgresql"] = asyncio.run(version())
    return info


def _yes(met: bool) -> str:
    return "**met**" if met else "**missed**"


def table(results: list[EngineFigures]) -> str:
    lines = [
        "| engine | measure | audited | unaudited | result | target |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for fig in results:
        r = fig.reads
        if r is not None:
            a, u = r.audited, r.unaudited
            spread = f"{min(r.round_ratios):.2f}-{max(r.round_ratios):.2f}"
            lines += [
                f"| {fig.engine} | reads, req/s ({r.client}, {r.workers} worker(s), "
                f"{r.rounds} rounds) | {a.rps:,.0f} | {u.rps:,.0f} | ratio **{r.ratio:.2f}** "
                f"(rounds {spread}) | >= {r.target} {_yes(r.met)} |",
                f"| {fig.engine} | reads, p50 / p95 / p99 ms | {a.p50_ms:.1f} / {a.p95_ms:.1f} / "
                f"{a.p99_ms:.1f} | {u.p50_ms:.1f} / {u.p95_ms:.1f} / {u.p99_ms:.1f} | | |",
                f"| {fig.engine} | reads, server CPU per request, us | {a.cpu_us_per_request:,.0f} "
                f"| {u.cpu_us_per_request:,.0f} | CPU ratio {r.cpu_ratio:.2f} | (context) |",
            ]
        v = fig.verify
        if v is not None:
            lines.append(
                f"| {fig.engine} | verify {v.events:,} events ({v.writers} writers), events/s "
                f"(median of {len(v.runs_seconds)}) | | | **{v.events_per_second:,}** "
                f"(best {v.best_events_per_second:,}) | >= {v.target:,} {_yes(v.met)} |"
            )
    return "\n".join(lines)


def report_section(doc: dict[str, Any], results: list[EngineFigures]) -> str:
    m = doc["machine"]
    return "\n".join(
        [
            BEGIN_MARK,
            f"## Latest run: {doc['date']}",
            "",
            f"Command (from the repository root): `{doc['command']}`",
            "",
            f"Machine: {m['nproc']} cores ({m['cpu']}), {m['memory_gb']} GB, {m['os']}; "
            f"Python {m['python']}, SQLite {m['sqlite']}, PostgreSQL {m['postgresql']}, "
            f"{m['wrk'] or 'no wrk (httpx client)'}; load average at start "
            f"{m['load_average_at_start']}, at the end {doc['load_average_at_end']}; commit "
            f"{m['git']}, source digest {m['source_sha256']}.",
            "",
            table(results),
            "",
            f"Raw figures: `{doc['results_file']}`.",
            END_MARK,
        ]
    )


def write_report(section: str) -> None:
    if REPORT.exists():
        text = REPORT.read_text()
        if BEGIN_MARK in text and END_MARK in text:
            head, rest = text.split(BEGIN_MARK, 1)
            tail = rest.split(END_MARK, 1)[1]
            REPORT.write_text(head + section + tail)
            return
        REPORT.write_text(text.rstrip() + "\n\n" + section + "\n")
        return
    REPORT.write_text(
        "# Performance: the access log\n\n"
        "Produced by `bench/audit_bench.py` (see its docstring). Targets (issue 4): audited "
        "reads at >= 0.8 of the same reads with the log switched off, measured in one run; "
        "verify at >= 500,000 events/s over a 1,000,000-event log.\n\n" + section + "\n"
    )
