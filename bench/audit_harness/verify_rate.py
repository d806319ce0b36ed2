"""A valid log of N events, bulk-loaded (not through HTTP), and timed verify runs."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import create_async_engine

from audit_harness.common import EVENT_COLUMNS, WRITERS, HarnessError, Options, VerifyFigures
from audit_harness.infra import BenchDatabase, asyncpg_dsn
from pdvault.audit.chain import event_hash, genesis_hash, writer_statement
from pdvault.audit.checkpoints import create_checkpoint
from pdvault.audit.ledger import AuditWriter
from pdvault.audit.models import AccessEvent
from pdvault.audit.signing import LogSigner
from pdvault.audit.verify import verify_log
from pdvault.crypto.keyring import new_keyring
from pdvault.db import make_engine, make_sessionmaker, new_id

# -- a valid log, bulk-loaded ---------------------------------------------------------------


@dataclass
class LogPlan:
    """What the generated events look like: 8 writers interleaved at random, as in service."""

    writers: list[uuid.UUID]
    registered_at: datetime
    principals: list[uuid.UUID] = field(default_factory=lambda: [new_id() for _ in range(20)])
    customers: list[uuid.UUID] = field(default_factory=lambda: [new_id() for _ in range(5000)])


def generate_events(
    plan: LogPlan, total: int, chunk: int, rng: random.Random
) -> Iterator[list[dict[str, Any]]]:
    heads = {w: (0, genesis_hash(w)) for w in plan.writers}
    start = plan.registered_at + timedelta(seconds=1)
    rows: list[dict[str, Any]] = []
    for seq in range(1, total + 1):
        writer = rng.choice(plan.writers)
        writer_seq, prev = heads[writer]
        denied = rng.random() < 0.05
        row: dict[str, Any] = {
            "seq": seq,
            "at": start + timedelta(microseconds=37 * seq),
            "request_id": f"{seq:032x}",
            "principal_id": rng.choice(plan.principals),
            "role": "employee",
            "action": "customer.read",
            "customer_id": rng.choice(plan.customers),
            "fields": [] if denied else ["full_name", "phone", "email", "address"],
            "purpose": "order_confirmation",
            "basis": None if denied else "purpose:order_confirmation",
            "outcome": "denied" if denied else "allowed",
            "reason": "purpose_not_allowed" if denied else None,
            "writer_id": writer,
            "writer_seq": writer_seq + 1,
        }
        row["hash"] = digest = event_hash(prev, row)
        heads[writer] = (writer_seq + 1, digest)
        rows.append(row)
        if len(rows) == chunk:
            yield rows
            rows = []
    if rows:
        yield rows


def _load_sqlite(db: BenchDatabase, batches: Iterator[list[dict[str, Any]]]) -> None:
    """Raw sqlite3, values converted by the very bind processors SQLAlchemy would use."""
    if db.path is None:
        raise HarnessError("no SQLite file")
    dialect = create_async_engine(db.url).dialect
    table = AccessEvent.__table__
    processors: list[Callable[[Any], Any] | None] = [
        table.c[name].type.bind_processor(dialect) for name in EVENT_COLUMNS
    ]
    placeholders = ", ".join("?" for _ in EVENT_COLUMNS)
    sql = f"INSERT INTO access_events ({', '.join(EVENT_COLUMNS)}) VALUES ({placeholders})"  # noqa: S608 - constant names
    conn = sqlite3.connect(db.path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        for rows in batches:
            values = [
                tuple(
                    p(row[name]) if p is not None else row[name]
                    for name, p in zip(EVENT_COLUMNS, processors, strict=True)
                )
                for row in rows
            ]
            conn.execute("BEGIN")
            conn.executemany(sql, values)
            conn.execute("COMMIT")
    finally:
        conn.close()


async def _load_postgres(db: BenchDatabase, batches: Iterator[list[dict[str, Any]]]) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(db.url))
    try:
        for rows in batches:
            records = [
                tuple(
                    json.dumps(row[name]) if name == "fields" else row[name]
                    for name in EVENT_COLUMNS
                )
                for row in rows
            ]
            await conn.copy_records_to_table(
                "access_events", records=records, columns=list(EVENT_COLUMNS)
            )
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('access_events', 'seq'), "
            "(SELECT max(seq) FROM access_events))"
        )
        # A log this size is long settled in service (autovacuum has run): measure that.
        await conn.execute("VACUUM (ANALYZE) access_events")
    finally:
        await conn.close()


async def _register_and_checkpoint(
    db: BenchDatabase, plan: LogPlan, signer: LogSigner, phase: str
) -> None:
    engine = make_engine(db.url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            if phase == "register":
                for n, writer in enumerate(plan.writers):
                    process = f"bench-loader:{n}"
                    statement = writer_statement(writer, plan.registered_at, process)
                    session.add(
                        AuditWriter(
                            writer_id=writer,
                            registered_at=plan.registered_at,
                            process=process,
                            key_id=signer.key_id,
                            signature=signer.sign(statement),
                        )
                    )
            elif await create_checkpoint(session, signer) is None:
                raise HarnessError("no checkpoint was created over the loaded log")
            await session.commit()
    finally:
        await engine.dispose()


async def _timed_verify(db: BenchDatabase, public_raw: bytes, events: int) -> float:
    engine = make_engine(db.url, pool_size=1)
    try:
        started = time.perf_counter()
        result = await verify_log(engine, public_raw)
        elapsed = time.perf_counter() - started
    finally:
        await engine.dispose()
    if not (result.ok and result.checked == events and result.checkpoints_checked == 1):
        raise HarnessError(
            f"verify over the generated log: ok={result.ok} checked={result.checked}/{events} "
            f"checkpoints={result.checkpoints_checked} problem={result.problem!r} "
            f"at seq {result.first_invalid_seq}"
        )
    return elapsed


def bench_verify(db: BenchDatabase, opts: Options) -> VerifyFigures:
    keyring = new_keyring()
    signer = LogSigner(keyring.signing_seed)
    plan = LogPlan([new_id() for _ in range(WRITERS)], datetime.now(UTC) - timedelta(days=1))
    rng = random.Random(opts.seed)  # noqa: S311 - shapes fake events, not secrets
    started = time.perf_counter()
    asyncio.run(_register_and_checkpoint(db, plan, signer, "register"))
    batches = generate_events(plan, opts.events, 50_000, rng)
    if db.engine == "sqlite":
        _load_sqlite(db, batches)
    else:
        asyncio.run(_load_postgres(db, batches))
    asyncio.run(_register_and_checkpoint(db, plan, signer, "checkpoint"))
    load_seconds = time.perf_counter() - started
    print(f"  [{db.engine}] loaded {opts.events:,} events in {load_seconds:.1f} s", flush=True)
    runs: list[float] = []
    for n in range(opts.verify_runs):
        runs.append(asyncio.run(_timed_verify(db, signer.public_raw, opts.events)))
        print(
            f"  [{db.engine}] verify run {n + 1}/{opts.verify_runs}: {runs[-1]:.2f} s, "
            f"{opts.events / runs[-1]:,.0f} events/s",
            flush=True,
        )
    return VerifyFigures(
        events=opts.events,
        writers=WRITERS,
        load_seconds=round(load_seconds, 2),
        runs_seconds=[round(r, 3) for r in runs],
        events_per_second=round(opts.events / statistics.median(runs)),
        best_events_per_second=round(opts.events / min(runs)),
    )
