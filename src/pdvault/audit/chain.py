"""The tamper-evident structure of the access log: hash chains per writer.

Each event's hash is ``SHA-256(prev_hash || canonical(event))``; ``prev_hash`` is the previous
event of the same writer, or the writer's genesis hash. A *writer* is one chain slot of one
process: a process keeps a small pool of slots, a request holds one only from inserting its
event to its commit, so no lock spans every request's transaction and throughput scales with
the slots. Every writer is registered with an Ed25519 signature, so a forged chain cannot pose
as one; signed checkpoints fix every writer's head, so cutting a tail is caught back to the
last checkpoint.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

CHAIN_FORMAT = b"pdvault/audit/v1"
SEP = b"\x1f"


def genesis_hash(writer_id: uuid.UUID) -> bytes:
    return hashlib.sha256(CHAIN_FORMAT + b"|genesis|" + writer_id.bytes).digest()


def _text(value: Any) -> bytes:
    if value is None:
        return b"\x00"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()
    if isinstance(value, uuid.UUID):
        return value.hex.encode()
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value).encode("utf-8")
    return str(value).encode("utf-8")


def canonical(
    seq: int,
    writer_id: uuid.UUID,
    writer_seq: int,
    at: datetime,
    request_id: str,
    principal_id: uuid.UUID | None,
    role: str | None,
    action: str,
    customer_id: uuid.UUID | None,
    fields: Sequence[str],
    purpose: str | None,
    basis: str | None,
    outcome: str,
    reason: str | None,
) -> bytes:
    """Every column of the event, in a fixed order, unambiguous (no field contains 0x1f)."""
    return SEP.join(
        (
            CHAIN_FORMAT,
            str(seq).encode(),
            writer_id.hex.encode(),
            str(writer_seq).encode(),
            _text(at),
            _text(request_id),
            _text(principal_id),
            _text(role),
            _text(action),
            _text(customer_id),
            _text(list(fields)),
            _text(purpose),
            _text(basis),
            _text(outcome),
            _text(reason),
        )
    )


def link(prev_hash: bytes, event_bytes: bytes) -> bytes:
    return hashlib.sha256(prev_hash + event_bytes).digest()


def event_hash(prev_hash: bytes, row: dict[str, Any]) -> bytes:
    return link(
        prev_hash,
        canonical(
            row["seq"],
            row["writer_id"],
            row["writer_seq"],
            row["at"],
            row["request_id"],
            row["principal_id"],
            row["role"],
            row["action"],
            row["customer_id"],
            row["fields"] or (),
            row["purpose"],
            row["basis"],
            row["outcome"],
            row["reason"],
        ),
    )


def writer_statement(writer_id: uuid.UUID, registered_at: datetime) -> bytes:
    return CHAIN_FORMAT + b"|writer|" + writer_id.hex.encode() + b"|" + _text(registered_at)


def heads_root(heads: Sequence[dict[str, Any]]) -> bytes:
    """The hash a checkpoint signs: every writer's head, sorted by writer id."""
    lines = sorted(
        f"{h['writer_id']}:{h['writer_seq']}:{h['seq']}:{h['hash']}".encode() for h in heads
    )
    return hashlib.sha256(CHAIN_FORMAT + b"|heads|" + b"\n".join(lines)).digest()


def checkpoint_statement(seq: int, root: bytes, at: datetime, events: int) -> bytes:
    return (
        CHAIN_FORMAT
        + b"|checkpoint|"
        + str(seq).encode()
        + b"|"
        + root.hex().encode()
        + b"|"
        + _text(at)
        + b"|"
        + str(events).encode()
    )
