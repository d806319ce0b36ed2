"""Benchmark of the access log at scale (issue 18): verification, full and incremental, and
the auditor's filtered pages, on a log of 1,000,000 events.

Run from the repository root::

    .venv/bin/python bench/audit_log.py --engine both                 # the real run
    .venv/bin/python bench/audit_log.py --engine sqlite --events 20000 --no-write  # a look

Each engine gets a fresh database (SQLite: a temporary file; PostgreSQL: ``pdvault_bench_<random>``
created on ``--postgres-url`` and dropped afterwards), seeded by ``seed_events`` (importable, so
a console bench can seed the same log): events spread over 30 days from 8 writers, chained and
hashed with ``pdvault.audit.chain``, registered and checkpointed (every 10,000 events) with
``pdvault.audit.checkpoints.sign_checkpoint`` under a fresh keyring, loaded with COPY
(PostgreSQL) or executemany (SQLite). Roles, actions, purposes and outcomes are mixed so that
some values are common and some rare (the hard case for a filter).

Measured, through the code the API and the console call:

1. ``runs.run_verify(full=True)`` over the whole log;
2. ``runs.run_verify(full=False)`` after a day's events (1/30 of the log) were appended since
   the last full run;
3. ``service.list_events`` (a 50-event page) for each filter alone and combined with a time
   range: the first page, a deep page (a cursor half-way through), and for closed time ranges
   the range's last page. Median of 5 calls after one warm-up. On PostgreSQL the plan of each
   (``EXPLAIN ANALYZE``) goes to ``bench/results/audit-log-plans-<date>.txt``.

Writes ``bench/results/audit-log-<date>.json`` (one key per engine, merged with a run of the
other engine the same day) unless ``--no-write``. Exits non-zero only when the harness breaks
(a verify run not ok, a page that is wrong), never because a figure is slow.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_harness.common import RESULTS_DIR, HarnessError
from audit_harness.infra import BenchDatabase, create_database, drop_database
from audit_harness.verify_rate import _load_postgres, _load_sqlite

from pdvault.audit import runs, service
from pdvault.audit.chain import event_hash, genesis_hash, writer_statement
from pdvault.audit.checkpoints import sign_checkpoint
from pdvault.audit.ledger import AuditWriter
from pdvault.audit.signing import LogSigner
from pdvault.crypto.keyring import Keyring, new_keyring
from pdvault.db import make_engine, make_sessionmaker, new_id

DAYS = 30
WRITERS = 8
CHECKPOINT_EVERY = 10_000
CHUNK = 50_000
PAGE = 50
REPEATS = 5

# (role, share, [(action, purpose, share within the role)]): common and rare values.
MIX: list[tuple[str, float, list[tuple[str, str | None, float]]]] = [
    (
        "employee",
        0.60,
        [
            ("customer.read", "order_confirmation", 0.55),
            ("customer.search", "product_consultation", 0.30),
            ("customer.read", "marketing", 0.10),
            ("customer.read", "special_case_support", 0.05),
        ],
    ),
    (
        "storefront",
        0.26,
        [
            ("customer.create", None, 0.40),
            ("customer.read", "customer_self_service", 0.50),
            ("customer.update", "customer_self_service", 0.10),
        ],
    ),
    ("partner", 0.08, [("partner.customer.read", "order_fulfillment", 1.0)]),
    ("dpo", 0.03, [("customer.export", "data_subject_request", 0.5), ("audit.events", None, 0.5)]),
    ("auditor", 0.02, [("audit.events", None, 0.8), ("audit.verify", None, 0.2)]),
    ("legal", 0.005, [("judicial.disclose", "legal_obligation", 1.0)]),
    ("admin", 0.005, [("token.create", None, 1.0)]),
]
DENIED_SHARE = 0.05


def _choices() -> tuple[list[tuple[str, str, str | None]], list[float]]:
    kinds, weights = [], []
    for role, share, actions in MIX:
        for action, purpose, inner in actions:
            kinds.append((role, action, purpose))
            weights.append(share * inner)
    return kinds, weights


@dataclass
class Seeder:
    """A valid log, appended in steps: ``add(n)`` chains, loads and checkpoints n more events.

    Event times run evenly from ``end - days`` to ``end`` over ``total`` events (a step is
    ``days / total``), with one event in 200 stamped up to 2 s early (a request that waited
    for its writer), as in service. A checkpoint is made at every ``checkpoint_every`` events
    and at the end of each ``add``, stamped just after the last event it names.
    """

    url: str
    total: int
    keyring: Keyring = field(default_factory=new_keyring)
    days: float = DAYS
    writers: int = WRITERS
    checkpoint_every: int = CHECKPOINT_EVERY
    seed: int = 7
    end: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(minutes=1))
    principals: list[uuid.UUID] = field(default_factory=lambda: [new_id() for _ in range(200)])
    customers: list[uuid.UUID] = field(default_factory=lambda: [new_id() for _ in range(50_000)])

    def __post_init__(self) -> None:
        self.signer = LogSigner(self.keyring.signing_seed)
        self.start = self.end - timedelta(days=self.days)
        self.step = timedelta(days=self.days) / max(1, self.total)
        self.writer_ids = [new_id() for _ in range(self.writers)]
        self.heads: dict[uuid.UUID, tuple[int, int, bytes]] = {
            w: (0, 0, genesis_hash(w)) for w in self.writer_ids
        }
        self.seq = 0
        self.rng = random.Random(self.seed)  # noqa: S311 - shapes fake events, not secrets
        self.kinds, self.weights = _choices()
        engine = "postgresql" if self.url.startswith("postgresql") else "sqlite"
        path = Path(self.url.split("///", 1)[1]) if engine == "sqlite" else None
        self.db = BenchDatabase(engine, self.url, path)
        self._pending_checkpoints: list[Any] = []
        asyncio.run(self._register())

    def at(self, seq: int) -> datetime:
        return self.start + self.step * seq

    def seq_at(self, when: datetime) -> int:
        return max(0, int((when - self.start) / self.step))

    async def _register(self) -> None:
        registered = self.start - timedelta(minutes=1)
        rows = []
        for n, writer in enumerate(self.writer_ids):
            process = f"bench-audit-log:{n}"
            rows.append(
                AuditWriter(
                    writer_id=writer,
                    registered_at=registered,
                    process=process,
                    key_id=self.signer.key_id,
                    signature=self.signer.sign(writer_statement(writer, registered, process)),
                )
            )
        await self._save(rows)

    async def _save(self, rows: Sequence[Any]) -> None:
        engine = make_engine(self.url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                session.add_all(rows)
                await session.commit()
        finally:
            await engine.dispose()

    def _checkpoint(self, at: datetime) -> None:
        heads = [
            {"writer_id": str(w), "writer_seq": ws, "seq": s, "hash": h.hex()}
            for w, (ws, s, h) in sorted(self.heads.items(), key=lambda kv: str(kv[0]))
            if ws > 0
        ]
        self._pending_checkpoints.append(sign_checkpoint(heads, self.signer, at))

    def _events(self, count: int) -> Iterator[list[dict[str, Any]]]:
        rng, rows = self.rng, []
        last = self.seq + count
        while self.seq < last:
            self.seq += 1
            seq = self.seq
            writer = self.writer_ids[rng.randrange(self.writers)]
            writer_seq, _, prev = self.heads[writer]
            role, action, purpose = rng.choices(self.kinds, self.weights)[0]
            denied = rng.random() < DENIED_SHARE
            at = self.at(seq)
            if rng.random() < 0.005:
                at -= timedelta(milliseconds=rng.randrange(2000))
            row: dict[str, Any] = {
                "seq": seq,
                "at": at,
                "request_id": f"{seq:032x}",
                "principal_id": self.principals[rng.randrange(len(self.principals))],
                "role": role,
                "action": action,
                "customer_id": self.customers[rng.randrange(len(self.customers))],
                "fields": [] if denied else ["full_name", "phone"],
                "purpose": purpose,
                "basis": None if denied or purpose is None else f"purpose:{purpose}",
                "outcome": "denied" if denied else "allowed",
                "reason": "purpose_not_allowed" if denied else None,
                "writer_id": writer,
                "writer_seq": writer_seq + 1,
            }
            row["hash"] = digest = event_hash(prev, row)
            self.heads[writer] = (writer_seq + 1, seq, digest)
            rows.append(row)
            if seq % self.checkpoint_every == 0 or seq == last:
                self._checkpoint(self.at(seq) + timedelta(milliseconds=1))
            if len(rows) == CHUNK:
                yield rows
                rows = []
        if rows:
            yield rows

    def add(self, count: int) -> None:
        batches = self._events(count)
        if self.db.engine == "sqlite":
            _load_sqlite(self.db, batches)
            import sqlite3

            conn = sqlite3.connect(str(self.db.path))
            conn.execute("ANALYZE")
            conn.close()
        else:
            asyncio.run(_load_postgres(self.db, batches))
        checkpoints, self._pending_checkpoints = self._pending_checkpoints, []
        asyncio.run(self._save(checkpoints))


def seed_events(url: str, n: int = 1_000_000, **options: Any) -> Seeder:
    """Seed a migrated, empty database with a valid log of ``n`` events (see ``Seeder``);
    the returned seeder holds the keyring, the ids used and the time span."""
    seeder = Seeder(url, n, **options)
    seeder.add(n)
    return seeder


# -- measurements ---------------------------------------------------------------------------


async def _timed_run(url: str, signer: LogSigner, *, full: bool) -> dict[str, Any]:
    engine = make_engine(url, pool_size=1)
    try:
        started = time.perf_counter()
        run = await runs.run_verify(engine, signer, full=full)
        seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    if not run.ok:
        raise HarnessError(f"verify ({run.mode}) not ok: {run.result.problem}")
    return {
        "mode": run.mode,
        "seconds": round(seconds, 4),
        "events_checked": run.result.checked,
        "from_seq": run.result.from_seq,
        "to_seq": run.result.last_seq,
    }


def _cases(s: Seeder) -> list[tuple[str, service.EventFilter, list[tuple[str, int]]]]:
    n = s.seq
    mid = s.end - timedelta(days=s.days / 2)
    day = timedelta(days=1)
    last_day = s.end - day
    a, b = s.seq_at(mid), s.seq_at(mid + day)
    recent = s.seq_at(last_day)
    half = [("first", 0), ("deep", n // 2)]
    ranged = [("first", 0), ("deep", (a + b) // 2), ("last", b - 300)]
    ef = service.EventFilter
    return [
        ("no filter", ef(), half),
        ("role=employee (60%)", ef(role="employee"), half),
        ("role=legal (0.5%)", ef(role="legal"), half),
        ("action=customer.read", ef(action="customer.read"), half),
        ("action=judicial.disclose (0.5%)", ef(action="judicial.disclose"), half),
        ("purpose=marketing (6%)", ef(purpose="marketing"), half),
        ("outcome=denied (5%)", ef(outcome="denied"), half),
        ("customer_id (one of 50,000)", ef(customer_id=s.customers[7]), half),
        ("principal_id (one of 200)", ef(principal_id=s.principals[3]), half),
        ("since: the last day", ef(since=last_day), [("first", 0), ("deep", (recent + n) // 2)]),
        ("a day 15 days ago", ef(since=mid, until=mid + day), ranged),
        ("a day 15 days ago, role=dpo", ef(since=mid, until=mid + day, role="dpo"), ranged),
        (
            "a day 15 days ago, action=customer.search, outcome=denied",
            ef(since=mid, until=mid + day, action="customer.search", outcome="denied"),
            ranged,
        ),
        (
            "the last 7 days, purpose=marketing",
            ef(since=s.end - 7 * day, purpose="marketing"),
            [("first", 0), ("deep", s.seq_at(s.end - 3 * day))],
        ),
        (
            "the last day, customer_id",
            ef(since=last_day, customer_id=s.customers[11]),
            [("first", 0)],
        ),
    ]


def _matches(flt: service.EventFilter, e: Any) -> bool:
    pairs = (
        (flt.role, e.role),
        (flt.action, e.action),
        (flt.purpose, e.purpose),
        (flt.outcome, e.outcome),
        (flt.customer_id, e.customer_id),
        (flt.principal_id, e.principal_id),
    )
    ok = all(want is None or want == got for want, got in pairs)
    if flt.since is not None:
        ok = ok and e.at >= flt.since
    if flt.until is not None:
        ok = ok and e.at < flt.until
    return ok


async def _pages(s: Seeder, plans: list[str]) -> list[dict[str, Any]]:
    engine = make_engine(s.url, pool_size=1)
    sessions = make_sessionmaker(engine)
    out: list[dict[str, Any]] = []
    try:
        for name, flt, pages in _cases(s):
            for page, after in pages:
                times = []
                items: list[Any] = []
                for _ in range(REPEATS + 1):
                    async with sessions() as session:
                        started = time.perf_counter()
                        items, _cursor = await service.list_events(session, flt, PAGE, after)
                        times.append(time.perf_counter() - started)
                        await session.rollback()
                if not all(_matches(flt, e) and e.seq > after for e in items):
                    raise HarnessError(f"{name}: a page holds an event outside its filter")
                median_ms = statistics.median(times[1:]) * 1000
                out.append(
                    {
                        "filter": name,
                        "page": page,
                        "after": after,
                        "rows": len(items),
                        "median_ms": round(median_ms, 2),
                        "max_ms": round(max(times[1:]) * 1000, 2),
                    }
                )
                print(f"  {name:58} {page:5} {len(items):3} rows {median_ms:8.2f} ms", flush=True)
                if engine.dialect.name == "postgresql":
                    plans.append(await _explain(sessions, name, page, flt, after))
    finally:
        await engine.dispose()
    return out


async def _explain(sessions: Any, name: str, page: str, flt: Any, after: int) -> str:
    async with sessions() as session:
        floor = await service.seq_floor(session, flt.since)
        query = service.page_query(flt, max(after, floor), PAGE)
        sql = str(
            query.compile(dialect=session.bind.dialect, compile_kwargs={"literal_binds": True})
        )
        rows = (await session.execute(_text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}"))).all()
        await session.rollback()
    return f"-- {name} / {page} page\n{sql}\n" + "\n".join(r[0] for r in rows) + "\n"


def _text(sql: str) -> Any:
    from sqlalchemy import text

    return text(sql)


def bench_engine(engine: str, events: int, postgres_url: str, workdir: Path) -> dict[str, Any]:
    db = create_database(engine, workdir, postgres_url)
    plans: list[str] = []
    try:
        day = max(1, events // DAYS)
        started = time.perf_counter()
        seeder = Seeder(db.url, events)
        seeder.add(events - day)
        seed_seconds = time.perf_counter() - started
        print(f"[{engine}] seeded {events - day:,} events in {seed_seconds:.1f} s", flush=True)
        first_full = asyncio.run(_timed_run(db.url, seeder.signer, full=True))
        print(f"[{engine}] full verify: {first_full}", flush=True)
        seeder.add(day)
        incremental = asyncio.run(_timed_run(db.url, seeder.signer, full=False))
        print(f"[{engine}] incremental verify of a day ({day:,} events): {incremental}")
        nothing_new = asyncio.run(_timed_run(db.url, seeder.signer, full=False))
        print(f"[{engine}] incremental verify, nothing new: {nothing_new}", flush=True)
        full = [asyncio.run(_timed_run(db.url, seeder.signer, full=True)) for _ in range(2)]
        print(f"[{engine}] full verify of {events:,}: {[f['seconds'] for f in full]}", flush=True)
        pages = asyncio.run(_pages(seeder, plans))
        return {
            "events": events,
            "seed_seconds": round(seed_seconds, 1),
            "verify_full": full,
            "verify_incremental_day": incremental,
            "verify_incremental_nothing_new": nothing_new,
            "pages": pages,
            "plans": plans,
        }
    finally:
        drop_database(db)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument(
        "--postgres-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    out = RESULTS_DIR / f"audit-log-{date}.json"
    report: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    with tempfile.TemporaryDirectory(prefix="pdvault-audit-log-") as tmp:
        for engine in engines:
            figures = bench_engine(engine, args.events, args.postgres_url, Path(tmp))
            plans = figures.pop("plans")
            report[engine] = {"measured_at": datetime.now(UTC).isoformat(), **figures}
            if not args.no_write:
                RESULTS_DIR.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(report, indent=2, default=str) + "\n")
                if plans:
                    (RESULTS_DIR / f"audit-log-plans-{date}.txt").write_text("\n".join(plans))
    return 0


if __name__ == "__main__":
    sys.exit(main())
