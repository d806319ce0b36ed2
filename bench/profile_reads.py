"""Where a read's time goes in one server worker: py-spy under wrk load, summarised by layer.

Run from the repository root (py-spy: ``pip install py-spy``; wrk; PostgreSQL on 127.0.0.1)::

    .venv/bin/python bench/profile_reads.py --engine postgresql --kind read
    .venv/bin/python bench/profile_reads.py --engine sqlite --kind read --workers 1

A fresh database with ``--customers`` sealed customers (bench/perf/data.py), ``pdvault serve``
on it, wrk at 32 connections (bench/perf.lua) for the whole recording, and ``py-spy record
--rate 200 --nonblocking --format raw`` on one worker for ``--seconds``. The summary (written
to ``bench/results/profile-<engine>-<kind>-<date>.txt`` with the raw stacks beside it) gives
the share of samples under each layer the issue names (a sample counts for every layer on its
stack, so the shares overlap), then the functions with the most samples on their own (self)
and anywhere on the stack (inclusive). Profile before and after a change with the same
command: the shares compare; the absolute sample counts do not (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from audit_harness.common import CONCURRENCY, HarnessError
from audit_harness.infra import create_database, drop_database, start_server, stop_server
from perf.data import load_customers
from perf.load import LUA, ROOT, Target
from perf.scenario import Tokens, _principals, assign, make_partner

from pdvault.crypto.keyring import new_keyring, write_keyring

RESULTS_DIR = ROOT / "bench" / "results"
# Layer -> a pattern any frame of a sample may match ("function (path:line)" in py-spy's raw
# format). Shares overlap: an ORM call made inside a dependency counts for both.
LAYERS: dict[str, str] = {
    "FastAPI dependency solving (solve_dependencies)": r"^solve_dependencies ",
    "FastAPI response validation/serialisation (serialize_response)": r"^serialize_response ",
    "SQLAlchemy, all": r"\(sqlalchemy/",
    "SQLAlchemy ORM (sqlalchemy/orm)": r"\(sqlalchemy/orm/",
    "SQLAlchemy cache-key generation (_generate_cache_key)": r"_generate_cache_key",
    "SQLAlchemy statement compile (compiler.py)": r"\(sqlalchemy/sql/compiler\.py",
    "driver (asyncpg / aiosqlite / sqlite3)": r"\((asyncpg|aiosqlite)/",
    "pool checkout/return (sqlalchemy/pool)": r"\(sqlalchemy/pool/",
    "new database connections (opened under load)": (
        r"^(AsyncAdapt_dbapi_connection\.create|connect \(asyncpg/connection\.py)"
    ),
    "ASGI middleware layers (starlette/middleware + pdvault middleware)": (
        r"\((starlette/middleware/|pdvault/middleware\.py|pdvault/observability\.py)"
    ),
    "pydantic (validation, serialisation)": r"\(pydantic",
    "stdlib json": r"\(json/",
    "orjson": r"orjson",
    "logging": r"\(logging/",
    "crypto (cryptography, pdvault/crypto, sealing)": (
        r"\((cryptography/|pdvault/crypto/|pdvault/customers/sealing\.py)"
    ),
    "access log (pdvault/audit)": r"\(pdvault/audit/",
    "policy (pdvault/policy)": r"\(pdvault/policy/",
    "uvicorn HTTP protocol (h11/httptools)": r"\(uvicorn/protocols/",
    "asyncio event loop (own frames)": r"\(asyncio/",
}
_FRAME = re.compile(r"^(?P<fn>\S+) \((?P<file>[^:]+):(?P<line>\d+)\)$")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--engine", choices=["sqlite", "postgresql"], default="postgresql")
    p.add_argument("--kind", choices=["read", "partner", "search"], default="read")
    p.add_argument("--workers", type=int, default=None, help="default: SQLite 1, PostgreSQL 2")
    p.add_argument("--customers", type=int, default=10_000)
    p.add_argument("--seconds", type=int, default=15, help="py-spy recording")
    p.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    p.add_argument("--label", default="", help="added to the file names (e.g. before, after)")
    p.add_argument("--summarise", type=Path, help="only summarise this raw py-spy file")
    p.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "PDVAULT_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
    )
    return p.parse_args(argv)


def short_frame(frame: str) -> str:
    """``fn (…/site-packages/pkg/mod.py:12)`` -> ``fn (pkg/mod.py:12)``: readable, and what the
    layer patterns match."""
    m = _FRAME.match(frame.strip())
    if m is None:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m['fn']} ({path}:{m['line']})"


def read_raw(path: Path) -> list[tuple[list[str], int]]:
    """py-spy's raw format: one line per distinct stack, ``root;...;leaf count``."""
    stacks: list[tuple[list[str], int]] = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames = [short_frame(f) for f in stack.split(";")]
            stacks.append(([f for f in frames if not f.startswith("process ")], int(count)))
    return stacks


def summarise(stacks: list[tuple[list[str], int]], title: str, top: int = 25) -> str:
    total = sum(n for _, n in stacks) or 1
    layers = Counter[str]()
    own = Counter[str]()
    anywhere = Counter[str]()
    for frames, n in stacks:
        for name, pattern in LAYERS.items():
            if any(re.search(pattern, f) for f in frames):
                layers[name] += n
        if frames:
            own[re.sub(r":\d+\)$", ")", frames[-1])] += n
        for fn in {re.sub(r":\d+\)$", ")", f) for f in frames}:
            anywhere[fn] += n
    out = [title, f"samples (all threads of the worker): {total:,}", ""]
    out += ["Share of samples by layer (overlapping):"]
    out += [f"  {100 * layers[k] / total:5.1f}%  {k}" for k in LAYERS]
    chain = asgi_chain(stacks)
    out += ["", f"ASGI layers from the server to the router ({len(chain)}):", *chain]
    out += ["", f"Top {top} functions by self samples:"]
    out += [f"  {100 * n / total:5.1f}%  {fn}" for fn, n in own.most_common(top)]
    out += ["", f"Top {top} functions by inclusive samples (project and framework code):"]
    framework = re.compile(r"\((pdvault|fastapi|starlette|sqlalchemy|pydantic|asyncpg|aiosqlite)")
    kept = [(fn, n) for fn, n in anywhere.most_common() if framework.search(fn)][:top]
    out += [f"  {100 * n / total:5.1f}%  {fn}" for fn, n in kept]
    return "\n".join(out) + "\n"


def asgi_chain(stacks: list[tuple[list[str], int]]) -> list[str]:
    """The ``__call__`` frames a request passes through before the router, outermost first,
    as the stack with the most samples that reaches the router shows them."""
    routed = [(n, frames) for frames, n in stacks if any("Router.__call__" in f for f in frames)]
    if not routed:
        return []
    frames = max(routed, key=lambda x: x[0])[1]
    chain: list[str] = []
    served = False  # the frames below uvicorn's protocol (not the CLI's, when in-process)
    for frame in frames:
        served = served or "uvicorn/protocols/" in frame
        if served and ".__call__ (" in frame:
            chain.append("  " + re.sub(r":\d+\)$", ")", frame))
        if "Router.__call__" in frame:
            break
    return chain


def worker_pid(root: int) -> int:
    """The uvicorn worker to record: the busiest child of the server (the server itself when it
    runs a single worker in-process)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == root and b"resource_tracker" not in cmdline:
            children.append((int(fields[11]) + int(fields[12]), int(stat.parent.name)))
    return max(children)[1] if children else root


def _targets(work: Path, tokens: Tokens, ids: list[str], phones: list[str]) -> dict[str, Target]:
    def keys(name: str, values: list[str]) -> Path:
        path = work / f"{name}.txt"
        path.write_text("\n".join(values) + "\n")
        return path

    return {
        "read": Target("read", tokens.employee, keys("ids", ids), ids),
        "search": Target("search", tokens.employee, keys("phones", phones), phones),
    }


def record(args: argparse.Namespace, work: Path, out_raw: Path) -> str:
    """Database, server, load and recording; returns the summary's title line."""
    db = create_database(args.engine, work, args.postgres_url)
    keyring = work / "keyring.json"
    write_keyring(keyring, new_keyring(), replace=True)
    workers = args.workers or (1 if args.engine == "sqlite" else 2)
    try:
        tokens = asyncio.run(_principals(db))
        loaded = load_customers(
            db, keyring.read_text(), 0, args.customers, "prof", tokens.storefront_id
        )
        server = start_server("vault", db, keyring, work, workers, audited=True)
        try:
            targets = _targets(work, tokens, loaded.ids, loaded.phones)
            if args.kind == "partner":
                pid = make_partner(server, db, work, tokens)
                chosen = assign(server, tokens, pid, loaded.ids, 500)
                (work / "assigned.txt").write_text("\n".join(chosen) + "\n")
                targets["partner"] = Target(
                    "partner", tokens.partner, work / "assigned.txt", chosen
                )
            _load_and_record(args, server.base_url, server.process.pid, targets[args.kind], out_raw)
        finally:
            stop_server(server)
    finally:
        drop_database(db)
    return (
        f"py-spy, {args.engine}, {workers} worker(s), {args.kind}, wrk {CONCURRENCY} connections, "
        f"{args.customers:,} customers, {args.seconds} s at {args.rate} Hz on one worker, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def _load_and_record(
    args: argparse.Namespace, base_url: str, root_pid: int, target: Target, out_raw: Path
) -> None:
    wrk, spy = (
        shutil.which("wrk"),
        shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
    )
    if wrk is None:
        raise HarnessError("wrk not found")
    env = {
        **os.environ,
        "BENCH_KIND": target.kind,
        "BENCH_TOKEN": target.token,
        "BENCH_KEYS_FILE": str(target.keys_file or ""),
    }
    argv = [wrk, "-t2", f"-c{CONCURRENCY}", f"-d{args.seconds + 8}s", "-s", str(LUA), base_url]
    load = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        time.sleep(4)  # warm: connections open, pools filled, statement caches populated
        pid = worker_pid(root_pid)
        spy_argv = [spy, "record", "--rate", str(args.rate), "--nonblocking", "--format", "raw"]
        spy_argv += ["--duration", str(args.seconds), "--pid", str(pid), "--output", str(out_raw)]
        done = subprocess.run(spy_argv, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0 or not out_raw.exists():
            raise HarnessError(f"py-spy failed: {done.stderr[-500:]}")
    finally:
        stdout, _ = load.communicate(timeout=args.seconds + 60)
    line = next((x for x in stdout.splitlines() if x.startswith("BENCH_JSON ")), "")
    print(f"wrk: {line.removeprefix('BENCH_JSON ')}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.summarise is not None:  # an earlier recording, summarised again
        print(summarise(read_raw(args.summarise), f"py-spy raw stacks {args.summarise}"))
        return 0
    stem = f"profile-{args.engine}-{args.kind}{'-' + args.label if args.label else ''}"
    stem += f"-{datetime.now(UTC):%Y-%m-%d}"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    raw = RESULTS_DIR / f"{stem}.raw.txt"
    work = Path(tempfile.mkdtemp(prefix="pdvault-profile-"))
    try:
        title = record(args, work, raw)
    except HarnessError as exc:
        print(f"bench/profile_reads.py: {exc} (logs in {work})", file=sys.stderr)
        return 2
    shutil.rmtree(work, ignore_errors=True)
    summary = summarise(read_raw(raw), title)
    (RESULTS_DIR / f"{stem}.txt").write_text(summary)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
