"""Recomputing the log: every chain link, every writer registration, every checkpoint.

Returns the first sequence number at which the stored log stops being what was written.
Everything is read in one snapshot (PostgreSQL: one REPEATABLE READ transaction; SQLite: one
read transaction), so a log appended to while it is verified is checked as it stood.

PostgreSQL: the database checks every link itself (``_PG_CHECK``): each event is joined to its
predecessor in its writer's chain, and ``sha256(previous hash || record_send(row))`` is
compared with the stored hash in C, across parallel workers; only counts come back. That pass
decides whether the log is intact. Only when it is not does the exact pass below run, which
names the first bad sequence number.

The exact pass (and SQLite's only pass) streams the events in ``seq`` order with one head per
writer: the writer must be validly registered, ``writer_seq`` must follow on, the stored hash
must equal the hash recomputed from the stored columns and the previous hash, and a head a
checkpoint fixed must carry the same hash. Finally every such head must still be there.

Both passes accept exactly the same logs: the fast pass requires, per validly registered
writer, ``writer_seq`` 1..n with each event's ``seq`` above its predecessor's (so ``seq``
order and chain order agree, which is what the stream needs) and every link correct, no event
of another writer, and every checkpointed head present with its hash.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import sqlite3
import struct
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdvault.audit.chain import (
    INT8,
    JSON_OID,
    PG_CANONICAL_SQL,
    TIMESTAMPTZ,
    UUID,
    VARCHAR,
    checkpoint_statement,
    genesis_hash,
    heads_root,
    pg_record_sql,
    writer_statement,
)
from pdvault.audit.ledger import AuditCheckpoint, AuditWriter
from pdvault.audit.signing import verify_signature
from pdvault.db import READ_ONLY

BATCH = 20_000


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_invalid_seq: int | None
    problem: str | None
    checkpoint: dict[str, Any] | None = None
    checkpoints_checked: int = 0
    writers: int = 0
    details: list[str] = field(default_factory=list)
    # The range checked: the lowest and highest seq looked at (None: no event).
    from_seq: int | None = None
    last_seq: int | None = None


# -- PostgreSQL ----------------------------------------------------------------------------

# One pass over the table, in the database: per registered writer, how many events, the
# highest writer_seq, and how many events break their link. An event breaks it when its
# writer is not validly registered (no genesis hash passed in), when it has a predecessor
# (same writer, writer_seq - 1) exactly unless it is writer_seq 1, when its seq is not above
# its predecessor's, or when its hash is not sha256(predecessor's hash or genesis || row).
_PG_CHECK = (
    "SELECT e.writer_id IS NOT NULL AND g.genesis IS NOT NULL, count(*), max(e.writer_seq), "  # noqa: S608 - module constants only  # nosec B608
    "min(e.seq), max(e.seq), "
    "count(*) FILTER (WHERE g.genesis IS NULL OR (p.seq IS NULL) <> (e.writer_seq = 1) "
    "OR p.seq >= e.seq OR e.hash IS DISTINCT FROM sha256(coalesce(p.hash, g.genesis) || "
    + pg_record_sql("e.")
    + ")) "
    "FROM access_events AS e "
    "LEFT JOIN unnest($1::uuid[], $2::bytea[]) AS g(writer_id, genesis) "
    "ON g.writer_id = e.writer_id "
    "LEFT JOIN access_events AS p "
    "ON p.writer_id = e.writer_id AND p.writer_seq = e.writer_seq - 1 "
    "GROUP BY e.writer_id, g.genesis"
)
_PG_PINNED = (
    "SELECT count(*) FROM access_events AS e "
    "JOIN unnest($1::uuid[], $2::bigint[], $3::bytea[]) AS x(writer_id, writer_seq, hash) "
    "ON e.writer_id = x.writer_id AND e.writer_seq = x.writer_seq AND e.hash = x.hash"
)
_PG_SELECT = (
    f"SELECT seq, replace(writer_id::text, '-', ''), writer_seq, {PG_CANONICAL_SQL}, hash "  # noqa: S608 - module constants only  # nosec B608
    "FROM access_events "
)
# The first page has no lower bound: a row stored at seq <= 0 is verified like any other.
_PG_FIRST = _PG_SELECT + "ORDER BY seq LIMIT $1"
_PG_PAGE = _PG_SELECT + "WHERE seq > $1 ORDER BY seq LIMIT $2"


# -- SQLite: the same canonical bytes, built in Python from the stored columns ---------------

# The columns as stored (uuids as 32 hex digits, the time as microseconds since 2000-01-01
# computed from its text: whole seconds without the fraction, then the six digits as stored).
_SQLITE_SELECT = (
    "SELECT seq, writer_id, writer_seq, "
    "(unixepoch(substr(at, 1, 19)) - 946684800) * 1000000 + CAST(substr(at, 21, 6) AS INTEGER), "
    "request_id, principal_id, role, action, customer_id, fields, purpose, basis, outcome, "
    "reason, token_id, target_principal_id, target_token_id, hash FROM access_events "
)
_SQLITE_ALL = _SQLITE_SELECT + "ORDER BY seq"
_HEAD = struct.Struct(">Ii")
_COUNT_SEQ = struct.Struct(">iIiq")  # the column count, then seq as an int8 column
_INT8 = struct.Struct(">Iiq")
_UUID_HEAD = _HEAD.pack(UUID, 16)
_UUID_NULL = _HEAD.pack(UUID, -1)
_TEXT_NULL = _HEAD.pack(VARCHAR, -1)


def _hex16(value: str) -> bytes:
    if len(value) != 32:  # fromhex would also skip whitespace: not a value of ours
        raise ValueError("not a stored uuid")
    return _UUID_HEAD + bytes.fromhex(value)


def _text(oid: int, value: str) -> bytes:
    data = value.encode("utf-8")
    return _HEAD.pack(oid, len(data)) + data


def _sqlite_event(row: tuple[Any, ...]) -> bytes:
    """chain.canonical of a stored SQLite row; b"" (matches no hash) for a value of the wrong
    type or shape, which only tampering can store."""
    try:
        (seq, writer, writer_seq, at, request_id, principal, role, action, customer, fields,
         purpose, basis, outcome, reason) = row[:14]  # fmt: skip
        tokens = row[14:17]
        named = any(t is not None for t in tokens)  # the 17-column form (chain.py)
        return b"".join(
            (
                _COUNT_SEQ.pack(17 if named else 14, INT8, 8, seq),
                _hex16(writer),
                _INT8.pack(INT8, 8, writer_seq),
                _INT8.pack(TIMESTAMPTZ, 8, at),
                _text(VARCHAR, request_id),
                _UUID_NULL if principal is None else _hex16(principal),
                _TEXT_NULL if role is None else _text(VARCHAR, role),
                _text(VARCHAR, action),
                _UUID_NULL if customer is None else _hex16(customer),
                _text(JSON_OID, fields),
                _TEXT_NULL if purpose is None else _text(VARCHAR, purpose),
                _TEXT_NULL if basis is None else _text(VARCHAR, basis),
                _text(VARCHAR, outcome),
                _TEXT_NULL if reason is None else _text(VARCHAR, reason),
                *((_UUID_NULL if t is None else _hex16(t) for t in tokens) if named else ()),
            )
        )
    except (TypeError, ValueError, AttributeError, struct.error, OverflowError):
        return b""


def _sqlite_rows(rows: Iterable[tuple[Any, ...]]) -> list[Row]:
    return [(r[0], r[1], r[2], _sqlite_event(r), r[17]) for r in rows]


_SQLITE_WRITERS = "SELECT writer_id, registered_at, process, signature FROM audit_writers"
_SQLITE_CHECKPOINTS = (
    "SELECT id, seq, at, events, root_hash, heads, signature FROM audit_checkpoints ORDER BY id"
)


class _Writers:
    """The registered writers; a registration's signature is checked when first needed (an
    incremental run meets only the writers of the events it checks)."""

    def __init__(
        self, public_raw: bytes, rows: Iterable[tuple[uuid.UUID, datetime, str, bytes]]
    ) -> None:
        self.public_raw = public_raw
        self.rows = {r[0].hex: r for r in rows}
        self._valid: dict[str, bool] = {}

    def valid(self, writer: str) -> bool:
        known = self._valid.get(writer)
        if known is None:
            row = self.rows.get(writer)
            known = row is not None and verify_signature(
                self.public_raw, row[3], writer_statement(row[0], row[1], row[2])
            )
            self._valid[writer] = known
        return known

    def valid_ids(self) -> list[uuid.UUID]:
        return [self.rows[w][0] for w in self.rows if self.valid(w)]

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class _Registry:
    """What the rows are checked against: valid writers and checkpointed heads."""

    writers: _Writers
    expected: dict[tuple[str, int], tuple[bytes, int]]
    latest: dict[str, Any] | None
    checkpoints: int
    refusal: VerifyResult | None = None
    heads_of_latest: list[Any] = field(default_factory=list)


def _registry(
    public_raw: bytes,
    writers: Iterable[tuple[uuid.UUID, datetime, str, bytes]],
    checkpoints: Iterable[tuple[int, int, datetime, int, bytes, list[Any], bytes]],
) -> _Registry:
    valid = _Writers(public_raw, writers)
    reg = _Registry(valid, {}, None, 0)
    for cp_id, seq, at, events, root_hash, heads, signature in checkpoints:
        pinned_heads = list(heads or [])
        root = heads_root(pinned_heads)
        good = root == root_hash and verify_signature(
            public_raw, signature, checkpoint_statement(seq, root, at, events)
        )
        if not good:
            reg.refusal = VerifyResult(
                False, 0, int(seq), f"checkpoint {cp_id} is not validly signed", writers=len(valid)
            )
            return reg
        for h in pinned_heads:
            key = (uuid.UUID(h["writer_id"]).hex, int(h["writer_seq"]))
            reg.expected[key] = (bytes.fromhex(h["hash"]), int(h["seq"]))
        reg.latest = {
            "id": cp_id,
            "seq": seq,
            "at": at,
            "events": events,
            "root_hash": root_hash.hex(),
        }
        reg.heads_of_latest = pinned_heads
        reg.checkpoints += 1
    return reg


Row = tuple[int, str, int, Any, bytes]


class _Stream:
    """The exact pass: events fed in seq order, one head per writer (see the module doc).

    An incremental run starts every writer a checkpoint names at that checkpoint's head
    (``start``); the events at or below it (``floor``) were checked by an earlier run and are
    skipped."""

    def __init__(
        self,
        reg: _Registry,
        start: dict[str, tuple[int, bytes]] | None = None,
        expected: dict[tuple[str, int], tuple[bytes, int]] | None = None,
    ) -> None:
        self.reg = reg
        self.expected = dict(reg.expected if expected is None else expected)
        self.heads: dict[str, tuple[int, bytes]] = dict(start or {})
        self.floor = {w: ws for w, (ws, _) in (start or {}).items()}
        self.checked = 0
        self.first_seq: int | None = None
        self.last_seq: int | None = None

    def feed(self, batch: Sequence[Row]) -> VerifyResult | None:
        writers, expected, heads, latest, floor = (
            self.reg.writers,
            self.expected,
            self.heads,
            self.reg.latest,
            self.floor,
        )
        checked = self.checked
        sha256 = hashlib.sha256
        if batch and self.first_seq is None:
            self.first_seq = int(batch[0][0])
        for seq, writer, writer_seq, body, stored in batch:
            head = heads.get(writer)
            if head is None:
                if not writers.valid(writer):
                    return _bad(checked, seq, "event of an unregistered or forged writer", latest)
                head = (0, genesis_hash(uuid.UUID(hex=writer)))
            elif floor and writer_seq <= floor.get(writer, 0):
                continue  # at or before the checkpoint the run starts from
            if writer_seq != head[0] + 1:
                return _bad(checked, seq, "chain sequence broken (event missing or moved)", latest)
            digest = sha256(head[1] + body).digest()
            if digest != stored:
                return _bad(checked, seq, "event does not match its hash", latest)
            if expected:
                pinned = expected.pop((writer, writer_seq), None)
                if pinned is not None and pinned[0] != digest:
                    return _bad(checked, seq, "event differs from a signed checkpoint", latest)
            heads[writer] = (writer_seq, digest)
            checked += 1
        self.checked = checked
        if batch:
            self.last_seq = int(batch[-1][0])
        return None

    def finish(self) -> VerifyResult:
        latest = self.reg.latest
        if self.expected:
            missing_seq = min(seq for _, seq in self.expected.values())
            return _bad(
                self.checked, missing_seq, "events fixed by a signed checkpoint are gone", latest
            )
        return VerifyResult(
            True,
            self.checked,
            None,
            None,
            latest,
            self.reg.checkpoints,
            len(self.reg.writers),
            from_seq=self.first_seq,
            last_seq=self.last_seq,
        )


def _bad(checked: int, seq: int, problem: str, latest: dict[str, Any] | None) -> VerifyResult:
    return VerifyResult(False, checked, int(seq), problem, latest)


async def verify_log(engine: AsyncEngine, public_raw: bytes) -> VerifyResult:
    if engine.dialect.name == "postgresql":
        return await _verify_postgres(engine, public_raw)
    return await _verify_sqlite(engine, public_raw)


async def _read_registry(conn: AsyncConnection, public_raw: bytes) -> _Registry:
    writers = (await conn.execute(select(AuditWriter))).all()
    checkpoints = (await conn.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id))).all()
    return _registry(
        public_raw,
        ((w.writer_id, w.registered_at, w.process, w.signature) for w in writers),
        (
            (cp.id, cp.seq, cp.at, cp.events, cp.root_hash, cp.heads, cp.signature)
            for cp in checkpoints
        ),
    )


async def _verify_postgres(engine: AsyncEngine, public_raw: bytes) -> VerifyResult:
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="REPEATABLE READ", **{READ_ONLY: True})
        reg = await _read_registry(conn, public_raw)
        if reg.refusal is not None:
            return reg.refusal
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        intact = await _pg_intact(driver, reg)
        if intact is not None:
            total, low, high = intact
            return VerifyResult(
                True,
                total,
                None,
                None,
                reg.latest,
                reg.checkpoints,
                len(reg.writers),
                from_seq=low,
                last_seq=high,
            )
        # Not intact: the exact pass names the first bad seq.
        stream = _Stream(reg)
        records = await driver.fetch(_PG_FIRST, BATCH)
        while records:
            result = stream.feed(records)
            if result is not None:
                return result
            records = await driver.fetch(_PG_PAGE, records[-1][0], BATCH)
        return stream.finish()


async def _pg_intact(driver: Any, reg: _Registry) -> tuple[int, int | None, int | None] | None:
    """The number of events and their lowest and highest seq when the database finds every
    link intact, else None."""
    valid = reg.writers.valid_ids()
    # Compiling costs more than it saves here; the predecessor join's hash table of a large
    # log fits in memory instead of spilling to temporary files (4 MB default).
    await driver.execute("SET LOCAL jit = off")
    await driver.execute("SET LOCAL work_mem = '256MB'")
    groups = await driver.fetch(_PG_CHECK, valid, [genesis_hash(w) for w in valid])
    total = 0
    lows: list[int] = []
    highs: list[int] = []
    for registered, events, top, low, high, broken in groups:
        # Per writer: every link holds and writer_seq runs 1..n with no repeat.
        if not registered or broken or top != events:
            return None
        total += int(events)
        lows.append(int(low))
        highs.append(int(high))
    if reg.expected:
        keys = list(reg.expected)
        present = await driver.fetchval(
            _PG_PINNED,
            [uuid.UUID(hex=w) for w, _ in keys],
            [ws for _, ws in keys],
            [reg.expected[k][0] for k in keys],
        )
        if present != len(keys):
            return None
    return total, min(lows, default=None), max(highs, default=None)


# -- SQLite ----------------------------------------------------------------------------------


async def _verify_sqlite(engine: AsyncEngine, public_raw: bytes) -> VerifyResult:
    database = engine.url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        # A read-only connection of the plain driver, in a worker thread, in one transaction.
        return await asyncio.to_thread(_verify_sqlite_file, database, public_raw)
    async with engine.connect() as conn:  # an in-memory database: only this pool sees it
        await conn.execution_options(**{READ_ONLY: True})
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        reg = _sqlite_registry(
            public_raw,
            await (await driver.execute(_SQLITE_WRITERS)).fetchall(),
            await (await driver.execute(_SQLITE_CHECKPOINTS)).fetchall(),
        )
        if reg.refusal is not None:
            return reg.refusal
        stream = _Stream(reg)
        cursor = await driver.execute(_SQLITE_ALL)
        try:
            while rows := await cursor.fetchmany(BATCH):
                result = stream.feed(_sqlite_rows(rows))
                if result is not None:
                    return result
        finally:
            await cursor.close()
        return stream.finish()


def _sqlite_time(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _sqlite_registry(public_raw: bytes, writers: list[Any], checkpoints: list[Any]) -> _Registry:
    return _registry(
        public_raw,
        ((uuid.UUID(hex=w), _sqlite_time(at), p, bytes(s)) for w, at, p, s in writers),
        (
            (
                int(i),
                int(seq),
                _sqlite_time(at),
                int(events),
                bytes(root),
                json.loads(heads) if heads is not None else [],
                bytes(sig),
            )
            for i, seq, at, events, root, heads, sig in checkpoints
        ),
    )


def _verify_sqlite_file(path: str, public_raw: bytes) -> VerifyResult:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=10)
    enabled = gc.isenabled()
    try:
        conn.execute("BEGIN")  # one snapshot for registrations, checkpoints and events
        reg = _sqlite_registry(
            public_raw,
            conn.execute(_SQLITE_WRITERS).fetchall(),
            conn.execute(_SQLITE_CHECKPOINTS).fetchall(),
        )
        if reg.refusal is not None:
            return reg.refusal
        stream = _Stream(reg)
        cursor = conn.execute(_SQLITE_ALL)
        gc.disable()  # the loop makes many short-lived tuples and no cycles
        while rows := cursor.fetchmany(BATCH):
            result = stream.feed(_sqlite_rows(rows))
            if result is not None:
                return result
        return stream.finish()
    finally:
        if enabled:
            gc.enable()
        conn.close()


# -- incremental: from a checkpoint an earlier run verified -----------------------------------
#
# The run starts every writer the starting checkpoint names at that checkpoint's head, after
# checking the checkpoint as the full run does (its root and signature) and that each head it
# names is still in the table with the signed hash, its seq, and a hash that is its columns'
# hash over the stored hash before it. It then streams, in seq order, every event no head of
# the checkpoint covers: from the lowest seq among each writer's first event after its head
# (and every other registered writer's first event) or the checkpoint's seq + 1, whichever
# is lower. Events at or below a head are skipped. The checkpoints after the starting one are
# checked (signature, root) and their heads must be met, as in the full run. What this does
# and does not prove is in docs/audit.md.

_PG_HEAD_ROWS = (
    "SELECT e.seq, replace(e.writer_id::text, '-', ''), e.writer_seq, "  # nosec B608 - module constants only
    + pg_record_sql("e.")
    + ", e.hash, p.hash "
    "FROM unnest($1::uuid[], $2::bigint[]) AS x(writer_id, writer_seq) "
    "JOIN access_events AS e ON e.writer_id = x.writer_id AND e.writer_seq = x.writer_seq "
    "LEFT JOIN access_events AS p "
    "ON p.writer_id = e.writer_id AND p.writer_seq = e.writer_seq - 1"
)
_PG_FIRST_AFTER = (
    "SELECT min(e.seq) FROM unnest($1::uuid[], $2::bigint[]) AS x(writer_id, writer_seq) "
    "JOIN access_events AS e ON e.writer_id = x.writer_id AND e.writer_seq = x.writer_seq + 1"
)
_SQLITE_CHECKPOINTS_FROM = (
    "SELECT id, seq, at, events, root_hash, heads, signature FROM audit_checkpoints "
    "WHERE id >= ? ORDER BY id"
)
_SQLITE_AT = _SQLITE_SELECT + "WHERE writer_id = ? AND writer_seq = ?"
_SQLITE_HASH_AT = "SELECT hash FROM access_events WHERE writer_id = ? AND writer_seq = ?"
_SQLITE_SEQ_AT = "SELECT seq FROM access_events WHERE writer_id = ? AND writer_seq = ?"
_SQLITE_FROM = _SQLITE_SELECT + "WHERE seq >= ? ORDER BY seq"

HeadRow = tuple[int, str, int, Any, bytes, bytes | None]  # a Row and the stored hash before it


@dataclass
class _Start:
    reg: _Registry
    seq: int  # the starting checkpoint's
    heads: dict[str, tuple[int, bytes]]  # writer -> (writer_seq, hash) of its head
    seqs: dict[str, int]  # writer -> seq of its head
    expected: dict[tuple[str, int], tuple[bytes, int]]  # heads of the later checkpoints


def _gone(checkpoint_id: int) -> VerifyResult:
    return VerifyResult(
        False, 0, None, f"checkpoint {checkpoint_id}, where the last verified run ended, is gone"
    )


def _split(reg: _Registry, first_heads: list[Any], first_seq: int) -> _Start | VerifyResult:
    heads = {
        uuid.UUID(h["writer_id"]).hex: (int(h["writer_seq"]), bytes.fromhex(h["hash"]))
        for h in first_heads
    }
    seqs = {uuid.UUID(h["writer_id"]).hex: int(h["seq"]) for h in first_heads}
    expected: dict[tuple[str, int], tuple[bytes, int]] = {}
    for (writer, writer_seq), (digest, seq) in reg.expected.items():
        head = heads.get(writer)
        if head is not None and writer_seq <= head[0]:
            # At or before the start: the start's own head, or an older one (two processes'
            # checkpoints can commit out of order); a head both name must agree.
            if writer_seq == head[0] and digest != head[1]:
                return _bad(0, seq, "checkpoints disagree about a writer's head", reg.latest)
            continue
        expected[(writer, writer_seq)] = (digest, seq)
    return _Start(reg, first_seq, heads, seqs, expected)


def _check_heads(start: _Start, rows: Iterable[HeadRow]) -> VerifyResult | None:
    """Each head the starting checkpoint names is still there, as signed, and hashes."""
    found = {r[1]: r for r in rows if start.heads.get(r[1], (None,))[0] == r[2]}
    latest = start.reg.latest
    for writer in sorted(start.heads, key=lambda w: start.seqs[w]):
        writer_seq, digest = start.heads[writer]
        seq = start.seqs[writer]
        row = found.get(writer)
        if row is None or row[0] != seq or bytes(row[4]) != digest:
            problem = "the checkpoint the run starts from no longer matches the log"
            return _bad(0, seq, problem, latest)
        prev = genesis_hash(uuid.UUID(hex=writer)) if writer_seq == 1 else row[5]
        if prev is None or hashlib.sha256(bytes(prev) + row[3]).digest() != digest:
            return _bad(0, seq, "event does not match its hash", latest)
    return None


def _lookups(start: _Start) -> tuple[list[str], list[int]]:
    """Every writer the run may meet first after the start, and the writer_seq before it."""
    writers = sorted(set(start.heads) | set(start.reg.writers.rows))
    return writers, [start.heads.get(w, (0, b""))[0] for w in writers]


def _from_seq(start: _Start, first_after: int | None) -> int:
    return min(start.seq + 1, first_after if first_after is not None else start.seq + 1)


def _finish(stream: _Stream, from_seq: int, start: _Start) -> VerifyResult:
    result = stream.finish()
    result.from_seq = from_seq
    if result.last_seq is None:
        result.last_seq = start.seq
    result.checkpoints_checked = start.reg.checkpoints
    return result


async def verify_from(engine: AsyncEngine, public_raw: bytes, checkpoint_id: int) -> VerifyResult:
    """Verify what the log holds after checkpoint ``checkpoint_id`` (see above)."""
    if engine.dialect.name == "postgresql":
        return await _from_postgres(engine, public_raw, checkpoint_id)
    database = engine.url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        return await asyncio.to_thread(_from_sqlite_file, database, public_raw, checkpoint_id)
    return await _verify_sqlite(engine, public_raw)  # in memory (tests only): in full


async def _from_postgres(
    engine: AsyncEngine, public_raw: bytes, checkpoint_id: int
) -> VerifyResult:
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="REPEATABLE READ", **{READ_ONLY: True})
        writers = (await conn.execute(select(AuditWriter))).all()
        checkpoints = (
            await conn.execute(
                select(AuditCheckpoint)
                .where(AuditCheckpoint.id >= checkpoint_id)
                .order_by(AuditCheckpoint.id)
            )
        ).all()
        if not checkpoints or checkpoints[0].id != checkpoint_id:
            return _gone(checkpoint_id)
        reg = _registry(
            public_raw,
            ((w.writer_id, w.registered_at, w.process, w.signature) for w in writers),
            (
                (cp.id, cp.seq, cp.at, cp.events, cp.root_hash, cp.heads, cp.signature)
                for cp in checkpoints
            ),
        )
        if reg.refusal is not None:
            return reg.refusal
        start = _split(reg, list(checkpoints[0].heads or []), int(checkpoints[0].seq))
        if isinstance(start, VerifyResult):
            return start
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        ids = [uuid.UUID(hex=w) for w in start.heads]
        head_rows = await driver.fetch(_PG_HEAD_ROWS, ids, [start.heads[w.hex][0] for w in ids])
        bad = _check_heads(start, (tuple(r) for r in head_rows))
        if bad is not None:
            return bad
        writer_hexes, floors = _lookups(start)
        first_after = await driver.fetchval(
            _PG_FIRST_AFTER, [uuid.UUID(hex=w) for w in writer_hexes], floors
        )
        from_seq = _from_seq(start, first_after)
        stream = _Stream(reg, start.heads, start.expected)
        records = await driver.fetch(_PG_PAGE, from_seq - 1, BATCH)
        while records:
            result = stream.feed(records)
            if result is not None:
                return result
            records = await driver.fetch(_PG_PAGE, records[-1][0], BATCH)
        return _finish(stream, from_seq, start)


def _from_sqlite_file(path: str, public_raw: bytes, checkpoint_id: int) -> VerifyResult:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=10)
    try:
        conn.execute("BEGIN")  # one snapshot, as the full run
        checkpoints = conn.execute(_SQLITE_CHECKPOINTS_FROM, (checkpoint_id,)).fetchall()
        if not checkpoints or int(checkpoints[0][0]) != checkpoint_id:
            return _gone(checkpoint_id)
        reg = _sqlite_registry(public_raw, conn.execute(_SQLITE_WRITERS).fetchall(), checkpoints)
        if reg.refusal is not None:
            return reg.refusal
        first = checkpoints[0]
        start = _split(reg, json.loads(first[5]) if first[5] else [], int(first[1]))
        if isinstance(start, VerifyResult):
            return start
        head_rows: list[HeadRow] = []
        for writer, (writer_seq, _) in start.heads.items():
            found = conn.execute(_SQLITE_AT, (writer, writer_seq)).fetchall()
            if not found:
                continue
            before = conn.execute(_SQLITE_HASH_AT, (writer, writer_seq - 1)).fetchone()
            head_rows.append((*_sqlite_rows(found)[0], bytes(before[0]) if before else None))
        bad = _check_heads(start, head_rows)
        if bad is not None:
            return bad
        firsts = [
            int(row[0])
            for writer, floor in zip(*_lookups(start), strict=True)
            if (row := conn.execute(_SQLITE_SEQ_AT, (writer, floor + 1)).fetchone()) is not None
        ]
        from_seq = _from_seq(start, min(firsts, default=None))
        stream = _Stream(reg, start.heads, start.expected)
        cursor = conn.execute(_SQLITE_FROM, (from_seq,))
        while rows := cursor.fetchmany(BATCH):
            result = stream.feed(_sqlite_rows(rows))
            if result is not None:
                return result
        return _finish(stream, from_seq, start)
    finally:
        conn.close()
