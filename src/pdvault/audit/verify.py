"""Recomputing the log: every chain link, every writer registration, every checkpoint.

Returns the first sequence number at which the stored log stops being what was written.
Streams the events in sequence order in constant memory (one head per writer, plus the
checkpoint heads to confirm).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from pdvault.audit.chain import (
    checkpoint_statement,
    event_hash,
    genesis_hash,
    heads_root,
    writer_statement,
)
from pdvault.audit.ledger import AuditCheckpoint, AuditWriter
from pdvault.audit.models import AccessEvent
from pdvault.audit.signing import verify_signature

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


_EVENT_COLUMNS = (
    AccessEvent.seq,
    AccessEvent.writer_id,
    AccessEvent.writer_seq,
    AccessEvent.at,
    AccessEvent.request_id,
    AccessEvent.principal_id,
    AccessEvent.role,
    AccessEvent.action,
    AccessEvent.customer_id,
    AccessEvent.fields,
    AccessEvent.purpose,
    AccessEvent.basis,
    AccessEvent.outcome,
    AccessEvent.reason,
    AccessEvent.hash,
)
_NAMES = [c.key for c in _EVENT_COLUMNS]


async def verify_log(engine: AsyncEngine, public_raw: bytes) -> VerifyResult:
    async with engine.connect() as conn:
        writers: dict[uuid.UUID, bool] = {}
        for w in (await conn.execute(select(AuditWriter))).all():
            statement = writer_statement(w.writer_id, w.registered_at)
            writers[w.writer_id] = verify_signature(public_raw, w.signature, statement)

        checkpoints = (
            await conn.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id))
        ).all()
        expected: dict[tuple[uuid.UUID, int], tuple[bytes, int]] = {}
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
                key = (uuid.UUID(h["writer_id"]), int(h["writer_seq"]))
                expected[key] = (bytes.fromhex(h["hash"]), int(h["seq"]))
            latest = {
                "id": cp.id,
                "seq": cp.seq,
                "at": cp.at,
                "events": cp.events,
                "root_hash": cp.root_hash.hex(),
            }

        heads: dict[uuid.UUID, tuple[int, bytes]] = {}
        checked = 0
        result = await conn.stream(
            select(*_EVENT_COLUMNS).order_by(AccessEvent.seq).execution_options(yield_per=BATCH)
        )
        async for partition in result.partitions(BATCH):
            for values in partition:
                row = dict(zip(_NAMES, values, strict=True))
                writer = row["writer_id"]
                seq = row["seq"]
                if not writers.get(writer, False):
                    return _bad(checked, seq, "event of an unregistered or forged writer", latest)
                prev_seq, prev_hash = heads.get(writer, (0, b""))
                if row["writer_seq"] != prev_seq + 1:
                    return _bad(
                        checked, seq, "chain sequence broken (event missing or moved)", latest
                    )
                digest = event_hash(prev_hash or genesis_hash(writer), row)
                if digest != row["hash"]:
                    return _bad(checked, seq, "event does not match its hash", latest)
                pinned = expected.pop((writer, prev_seq + 1), None)
                if pinned is not None and pinned[0] != digest:
                    return _bad(checked, seq, "event differs from a signed checkpoint", latest)
                heads[writer] = (prev_seq + 1, digest)
                checked += 1
        if expected:
            missing_seq = min(seq for _, seq in expected.values())
            return _bad(
                checked, missing_seq, "events fixed by a signed checkpoint are gone", latest
            )
        return VerifyResult(True, checked, None, None, latest, len(checkpoints), len(writers))


def _bad(checked: int, seq: int, problem: str, latest: dict[str, Any] | None) -> VerifyResult:
    return VerifyResult(False, checked, int(seq), problem, latest)
