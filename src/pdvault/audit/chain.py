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
import json
import struct
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

CHAIN_FORMAT = b"pdvault/audit/v2"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)

# The canonical form of an event (format v2) is PostgreSQL's binary record format
# (``record_send``) of the row of its 14 columns: an int32 column count, then per column the
# type's OID (int32), the value's length (int32, -1 for NULL) and the value in the type's
# binary form: int8 big-endian, uuid its 16 bytes, timestamptz int8 microseconds since
# 2000-01-01 UTC, varchar and json their UTF-8 text. Lengths are explicit, so no value can
# move a boundary, and NULL (-1) cannot pass for any text. PostgreSQL builds it in C
# (``PG_RECORD_SQL``), Python mirrors it (``canonical``) and SQLite builds its hex
# (``verify.py``); the tamper tests on both engines keep the three in step.
#
# An event that names a token or a target (``TOKEN_COLUMNS``: every event written since they
# were added, bar the few without a caller) is the row of 17 columns, those three appended.
# One that names none is the row of the first 14, byte for byte what it was before, so events
# written before the columns existed verify unchanged; the column count (14 or 17) leads the
# bytes, so neither form can pass for the other, and setting or clearing any of the three
# changes the hash.
INT8, UUID, TIMESTAMPTZ, VARCHAR, JSON_OID = 20, 2950, 1184, 1043, 114
EVENT_COLUMNS = (
    ("seq", INT8),
    ("writer_id", UUID),
    ("writer_seq", INT8),
    ("at", TIMESTAMPTZ),
    ("request_id", VARCHAR),
    ("principal_id", UUID),
    ("role", VARCHAR),
    ("action", VARCHAR),
    ("customer_id", UUID),
    ("fields", JSON_OID),
    ("purpose", VARCHAR),
    ("basis", VARCHAR),
    ("outcome", VARCHAR),
    ("reason", VARCHAR),
)
TOKEN_COLUMNS = (
    ("token_id", UUID),
    ("target_principal_id", UUID),
    ("target_token_id", UUID),
)
_COUNT = struct.pack(">i", len(EVENT_COLUMNS))
_COUNT_WITH_TOKENS = struct.pack(">i", len(EVENT_COLUMNS) + len(TOKEN_COLUMNS))
_HEAD = struct.Struct(">Ii")
_INT8 = struct.Struct(">Iiq")
_NULL = {oid: _HEAD.pack(oid, -1) for _, oid in EVENT_COLUMNS}
_UUID_HEAD = _HEAD.pack(UUID, 16)


def genesis_hash(writer_id: uuid.UUID) -> bytes:
    return hashlib.sha256(CHAIN_FORMAT + b"|genesis|" + writer_id.bytes).digest()


def micros(at: datetime) -> int:
    """Microseconds since the Unix epoch: exact, and the same on both engines."""
    return (at - EPOCH) // ONE_MICROSECOND


def pg_micros(at: datetime) -> int:
    """Microseconds since 2000-01-01 UTC: PostgreSQL's binary timestamptz."""
    return (at - PG_EPOCH) // ONE_MICROSECOND


def fields_text(fields: Sequence[str]) -> str:
    """The JSON text both engines store for the ``fields`` column (``json.dumps`` of a list)."""
    return json.dumps(list(fields))


def _int8(value: int) -> bytes:
    return _INT8.pack(INT8, 8, value)


def _uuid(value: uuid.UUID | None) -> bytes:
    return _NULL[UUID] if value is None else _UUID_HEAD + value.bytes


def _str(oid: int, value: str | None) -> bytes:
    if value is None:
        return _NULL[oid]
    data = value.encode("utf-8")
    return _HEAD.pack(oid, len(data)) + data


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
    fields_json: str,
    purpose: str | None,
    basis: str | None,
    outcome: str,
    reason: str | None,
    token_id: uuid.UUID | None = None,
    target_principal_id: uuid.UUID | None = None,
    target_token_id: uuid.UUID | None = None,
) -> bytes:
    """Every column of an event, in PostgreSQL's binary record format (see above)."""
    tokens = (token_id, target_principal_id, target_token_id)
    named = any(t is not None for t in tokens)
    return b"".join(
        (
            _COUNT_WITH_TOKENS if named else _COUNT,
            _int8(seq),
            _uuid(writer_id),
            _int8(writer_seq),
            _INT8.pack(TIMESTAMPTZ, 8, pg_micros(at)),
            _str(VARCHAR, request_id),
            _uuid(principal_id),
            _str(VARCHAR, role),
            _str(VARCHAR, action),
            _uuid(customer_id),
            _str(JSON_OID, fields_json),
            _str(VARCHAR, purpose),
            _str(VARCHAR, basis),
            _str(VARCHAR, outcome),
            _str(VARCHAR, reason),
            *((_uuid(t) for t in tokens) if named else ()),
        )
    )


def pg_record_sql(prefix: str = "") -> str:
    """The same bytes as canonical(), as a PostgreSQL expression over the event's columns
    (``prefix`` qualifies them, e.g. ``"e."``). verify.py checks stored rows with it and
    writer.py hashes an appended event with it; every column must have the table's type.
    The 17-column row when the event names a token or a target, else the 14 (see above)."""
    columns = ", ".join(f"{prefix}{name}" for name, _ in EVENT_COLUMNS)
    tokens = ", ".join(f"{prefix}{name}" for name, _ in TOKEN_COLUMNS)
    none = " AND ".join(f"{prefix}{name} IS NULL" for name, _ in TOKEN_COLUMNS)
    return (
        f"CASE WHEN {none} THEN record_send(ROW({columns})) "
        f"ELSE record_send(ROW({columns}, {tokens})) END"
    )


PG_CANONICAL_SQL = pg_record_sql()


def link(prev_hash: bytes, event_bytes: bytes) -> bytes:
    return hashlib.sha256(prev_hash + event_bytes).digest()


def event_hash(prev_hash: bytes, row: dict[str, Any]) -> bytes:
    """The hash of an event as the writer holds it (Python values)."""
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
            fields_text(row["fields"] or ()),
            row["purpose"],
            row["basis"],
            row["outcome"],
            row["reason"],
            row.get("token_id"),
            row.get("target_principal_id"),
            row.get("target_token_id"),
        ),
    )


def _text(value: Any) -> bytes:
    if isinstance(value, datetime):
        return str(micros(value)).encode()
    return str(value).encode("utf-8")


def writer_statement(writer_id: uuid.UUID, registered_at: datetime, process: str) -> bytes:
    return (
        CHAIN_FORMAT
        + b"|writer|"
        + writer_id.hex.encode()
        + b"|"
        + _text(registered_at)
        + b"|"
        + process.encode("utf-8")
    )


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


def verify_run_statement(
    mode: str,
    ok: bool,
    from_seq: int | None,
    to_seq: int | None,
    from_checkpoint_id: int | None,
    through_checkpoint_id: int | None,
    through_root: bytes | None,
    events_checked: int,
    finished_at: datetime,
) -> bytes:
    """What a verification run's record is signed over (audit/runs.py): the next incremental
    run starts from ``through_checkpoint_id`` only if this verifies with the log's key and the
    checkpoint still has ``through_root``."""
    parts = (
        mode,
        "ok" if ok else "bad",
        from_seq,
        to_seq,
        from_checkpoint_id,
        through_checkpoint_id,
        through_root.hex() if through_root is not None else None,
        events_checked,
    )
    return (
        CHAIN_FORMAT
        + b"|verify-run|"
        + b"|".join(b"-" if v is None else str(v).encode() for v in parts)
        + b"|"
        + _text(finished_at)
    )
