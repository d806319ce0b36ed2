"""Recomputing the log: every chain link, every writer registration, every checkpoint.

Returns the first sequence number at which the stored log stops being what was written.
Streams the events in sequence order in constant memory (one head per writer, plus the
checkpoint heads to confirm).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from pdvault.audit.chain import (
    PG_CANONICAL_SQL,
    checkpoint_statement,
    genesis_hash,
    heads_root,
    pg_hex,
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


_PG_SELECT = (
    f"SELECT seq, {pg_hex('writer_id')}, writer_seq, {PG_CANONICAL_SQL}, hash "  # noqa: S608
    "FROM access_events "
)
# The first page has no lower bound: a row stored at seq <= 0 is verified like any other.
_PG_FIRST = _PG_SELECT + "ORDER BY seq LIMIT $1"
_PG_PAGE = _PG_SELECT + "WHERE seq > $1 ORDER BY seq LIMIT $2"


def _sq_opt(column: str) -> str:
    return f"ifnull(char(29) || {column}, char(30))"


_SQLITE_CANONICAL = (
    "CAST("
    + " || char(31) || ".join(
        (
            "'pdvault/audit/v1'",
            "seq",
            "writer_id",
            "writer_seq",
            # whole seconds from the text without its fraction (strftime would round it), then
            # the six fractional digits as stored
            "(CAST(strftime('%s', substr(at, 1, 19)) AS INTEGER) * 1000000"
            " + CAST(substr(at, 21, 6) AS INTEGER))",
            "request_id",
            _sq_opt("principal_id"),
            _sq_opt("role"),
            "action",
            _sq_opt("customer_id"),
            "fields",
            _sq_opt("purpose"),
            _sq_opt("basis"),
            "outcome",
            _sq_opt("reason"),
        )
    )
    + " AS BLOB)"
)
_SQLITE_ALL = (
    f"SELECT seq, writer_id, writer_seq, {_SQLITE_CANONICAL}, hash "  # noqa: S608
    "FROM access_events ORDER BY seq"
)

Row = tuple[int, str, int, bytes, bytes]


async def _pg_batches(driver: Any) -> AsyncGenerator[list[Row], None]:
    """Keyset pages straight from asyncpg: no ORM rows, no per-value type adapters."""
    records = await driver.fetch(_PG_FIRST, BATCH)
    while records:
        yield records
        records = await driver.fetch(_PG_PAGE, records[-1][0], BATCH)


async def _sqlite_batches(driver: Any) -> AsyncGenerator[list[Row], None]:
    cursor = await driver.execute(_SQLITE_ALL)
    try:
        while rows := await cursor.fetchmany(BATCH):
            yield rows
    finally:
        await cursor.close()


async def verify_log(engine: AsyncEngine, public_raw: bytes) -> VerifyResult:
    async with engine.connect() as conn:
        await conn.execution_options(**{READ_ONLY: True})
        writers: dict[str, bool] = {}
        for w in (await conn.execute(select(AuditWriter))).all():
            statement = writer_statement(w.writer_id, w.registered_at, w.process)
            writers[w.writer_id.hex] = verify_signature(public_raw, w.signature, statement)

        checkpoints = (
            await conn.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id))
        ).all()
        expected: dict[tuple[str, int], tuple[bytes, int]] = {}
        latest: dict[str, Any] | None = None
        for cp in checkpoints:
            pinned_heads = list(cp.heads or [])
            root = heads_root(pinned_heads)
            good = root == cp.root_hash and verify_signature(
                public_raw, cp.signature, checkpoint_statement(cp.seq, root, cp.at, cp.events)
            )
            if not good:
                return VerifyResult(
                    False,
                    0,
                    int(cp.seq),
                    f"checkpoint {cp.id} is not validly signed",
                    writers=len(writers),
                )
            for h in pinned_heads:
                key = (uuid.UUID(h["writer_id"]).hex, int(h["writer_seq"]))
                expected[key] = (bytes.fromhex(h["hash"]), int(h["seq"]))
            latest = {
                "id": cp.id,
                "seq": cp.seq,
                "at": cp.at,
                "events": cp.events,
                "root_hash": cp.root_hash.hex(),
            }

        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        batches = (
            _pg_batches(driver) if engine.dialect.name == "postgresql" else _sqlite_batches(driver)
        )
        heads: dict[str, tuple[int, bytes]] = {}
        checked = 0
        sha256 = hashlib.sha256
        async with aclosing(batches):
            async for batch in batches:
                for row in batch:
                    seq, writer, writer_seq = row[0], row[1], row[2]
                    head = heads.get(writer)
                    if head is None:
                        if not writers.get(writer, False):
                            return _bad(
                                checked, seq, "event of an unregistered or forged writer", latest
                            )
                        head = (0, genesis_hash(uuid.UUID(hex=writer)))
                    if writer_seq != head[0] + 1:
                        return _bad(
                            checked, seq, "chain sequence broken (event missing or moved)", latest
                        )
                    digest = sha256(head[1] + row[3]).digest()
                    if digest != row[4]:
                        return _bad(checked, seq, "event does not match its hash", latest)
                    if expected:
                        pinned = expected.pop((writer, writer_seq), None)
                        if pinned is not None and pinned[0] != digest:
                            return _bad(
                                checked, seq, "event differs from a signed checkpoint", latest
                            )
                    heads[writer] = (writer_seq, digest)
                    checked += 1
        if expected:
            missing_seq = min(seq for _, seq in expected.values())
            return _bad(
                checked, missing_seq, "events fixed by a signed checkpoint are gone", latest
            )
        return VerifyResult(True, checked, None, None, latest, len(checkpoints), len(writers))


def _bad(checked: int, seq: int, problem: str, latest: dict[str, Any] | None) -> VerifyResult:
    return VerifyResult(False, checked, int(seq), problem, latest)
