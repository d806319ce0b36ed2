"""Customers for the benchmark: sealed by pdvault's own code, bulk-inserted, and in the clear.

Loading 1,000,000 customers over HTTP takes too long for every run, so the bulk is written
directly: each customer is validated and normalised by the API's own schema (``CustomerIn``),
sealed by ``pdvault.customers.sealing.seal_new`` (a fresh data key wrapped under the KEK,
every field AES-GCM encrypted, blind indexes) and given the two registration consent rows the
API writes, exactly the rows ``POST /v1/customers`` would insert. The same customers go into
``bench_plain_customers`` in the clear for the baseline. Sealing runs in worker processes; the
parent inserts (PostgreSQL: COPY; SQLite: executemany with SQLAlchemy's own bind processors).
No access events are written for the load: the import rate is measured through the API apart.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from audit_harness.infra import BenchDatabase, asyncpg_dsn
from plain_table import metadata as plain_metadata
from plain_table import plain_customers
from pydantic import TypeAdapter
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import create_async_engine

from pdvault.crypto.provider import LocalKeyProvider
from pdvault.customers import sealing
from pdvault.customers.models import Consent, Customer
from pdvault.customers.schemas import CustomerIn
from pdvault.db import make_engine, new_id, utcnow
from pdvault.policy import ALL_FIELDS

CHUNK = 5000
_adapter: TypeAdapter[CustomerIn] = TypeAdapter(CustomerIn)


def fake_customer(n: int, salt: str) -> dict[str, Any]:
    """Clearly fake: example.com, a 090x number, a placeholder name and street."""
    return {
        "full_name": "Nguyễn Văn Mẫu",
        "phone": f"090{n % 10_000_000:07d}",
        "email": f"khach.mau.{n}.{salt}@example.com",
        "address": "Số 1 Đường Ví Dụ, Phường Mẫu, Hà Nội",
        "consents": {"processing": True, "marketing": False},
        "policy_version": "2024-01",
    }


@dataclass
class Loaded:
    ids: list[str]
    phones: list[str]  # normalised, as stored: the search key
    seconds: float


def _columns(table: Table) -> list[str]:
    return [col.name for col in table.columns]


CUSTOMER_COLS = _columns(Customer.__table__)  # type: ignore[arg-type]
CONSENT_COLS = _columns(Consent.__table__)  # type: ignore[arg-type]
PLAIN_COLS = _columns(plain_customers)

_keys: LocalKeyProvider | None = None


def _init_worker(keyring_json: str) -> None:
    global _keys  # one provider per worker process
    _keys = LocalKeyProvider.from_json(keyring_json)


CHECK_EVERY = 250


def _fast_values(n: int, salt: str, constant: dict[str, str]) -> dict[str, str]:
    """What ``CustomerIn`` makes of ``fake_customer(n, salt)``, without its cost (phone and email
    validation are ~70% of sealing): the fixed name and address as normalised once, the 090x
    number in E.164, the ASCII email as it is. Checked against the schema every CHECK_EVERY."""
    raw = fake_customer(n, salt)
    return {**constant, "phone": "+84" + raw["phone"][1:], "email": raw["email"]}


async def _seal_chunk(
    keys: LocalKeyProvider, start: int, stop: int, salt: str, recorded_by: uuid.UUID | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    customers, consents, plain = [], [], []
    sample = _adapter.validate_python(fake_customer(start, salt))
    constant = {"full_name": sample.full_name, "address": sample.address}
    policy_version = sample.policy_version
    for n in range(start, stop):
        values = _fast_values(n, salt, constant)
        if n % CHECK_EVERY == 0:
            data = _adapter.validate_python(fake_customer(n, salt))
            if values != {f: getattr(data, f) for f in ALL_FIELDS}:
                raise RuntimeError(f"bulk load: customer {n} differs from what the API stores")
        cid, now = new_id(), utcnow()
        row = await sealing.seal_new(keys, cid, values)
        row.update(
            id=cid,
            created_at=now,
            updated_at=now,
            version=1,
            policy_version=policy_version,
            erased_at=None,
        )
        customers.append(row)
        for kind, granted in (("processing", True), ("marketing", False)):
            consents.append(
                {
                    "id": new_id(),
                    "customer_id": cid,
                    "kind": kind,
                    "granted": granted,
                    "source": "registration",
                    "policy_version": policy_version,
                    "recorded_at": now,
                    "recorded_by": recorded_by,
                }
            )
        plain.append({"id": cid, **values, "created_at": now, "updated_at": now, "version": 1})
    return customers, consents, plain


def _seal(args: tuple[int, int, str, uuid.UUID | None]) -> Any:
    if _keys is None:
        raise RuntimeError("worker not initialised")
    return asyncio.run(_seal_chunk(_keys, *args))


class _SqliteSink:
    def __init__(self, db: BenchDatabase) -> None:
        if db.path is None:
            raise RuntimeError("no SQLite file")
        self.dialect = create_async_engine(db.url).dialect
        self.conn = sqlite3.connect(db.path, isolation_level=None)
        self.conn.execute("PRAGMA synchronous=OFF")

    def insert(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        names = _columns(table)
        procs: list[Callable[[Any], Any] | None] = [
            table.c[name].type.bind_processor(self.dialect) for name in names
        ]
        values = [
            tuple(
                p(row.get(name)) if p is not None else row.get(name)
                for name, p in zip(names, procs, strict=True)
            )
            for row in rows
        ]
        sql = (
            f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 - constant names
            f"VALUES ({', '.join('?' for _ in names)})"
        )
        self.conn.execute("BEGIN")
        self.conn.executemany(sql, values)
        self.conn.execute("COMMIT")

    def finish(self) -> None:
        self.conn.execute("ANALYZE")
        self.conn.close()


class _PostgresSink:
    def __init__(self, db: BenchDatabase, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.conn = loop.run_until_complete(asyncpg.connect(asyncpg_dsn(db.url)))

    def insert(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        names = _columns(table)
        records = [tuple(row.get(name) for name in names) for row in rows]
        self.loop.run_until_complete(
            self.conn.copy_records_to_table(table.name, records=records, columns=names)
        )

    def finish(self) -> None:
        self.loop.run_until_complete(self.conn.execute("ANALYZE"))
        self.loop.run_until_complete(self.conn.close())


async def create_plain_table(db: BenchDatabase) -> None:
    engine = make_engine(db.url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(plain_metadata.create_all)
    finally:
        await engine.dispose()


def _chunks(first: int, stop: int, salt: str, by: uuid.UUID | None) -> Iterator[Any]:
    for start in range(first, stop, CHUNK):
        yield (start, min(stop, start + CHUNK), salt, by)


def load_customers(
    db: BenchDatabase,
    keyring_json: str,
    first: int,
    stop: int,
    salt: str,
    recorded_by: uuid.UUID | None,
    processes: int = 2,
) -> Loaded:
    """Customers number ``first`` to ``stop - 1``, sealed (+ consents), and their plaintext
    twins; returns their ids and phones."""
    started = time.perf_counter()
    if first == 0:
        asyncio.run(create_plain_table(db))
    loop = asyncio.new_event_loop()
    sink: _SqliteSink | _PostgresSink = (
        _SqliteSink(db) if db.engine == "sqlite" else _PostgresSink(db, loop)
    )
    ids: list[str] = []
    phones: list[str] = []
    ctx = multiprocessing.get_context("fork")
    try:
        with ctx.Pool(processes, initializer=_init_worker, initargs=(keyring_json,)) as pool:
            for customers, consents, plain in pool.imap(
                _seal, _chunks(first, stop, salt, recorded_by)
            ):
                sink.insert(Customer.__table__, customers)  # type: ignore[arg-type]
                sink.insert(Consent.__table__, consents)  # type: ignore[arg-type]
                sink.insert(plain_customers, plain)
                ids.extend(str(r["id"]) for r in plain)
                phones.extend(r["phone"] for r in plain)
                if len(ids) % 100_000 == 0:
                    print(f"    loaded {len(ids):,} customers", flush=True)
        sink.finish()
    finally:
        loop.close()
    return Loaded(ids, phones, time.perf_counter() - started)
