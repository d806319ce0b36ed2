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
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

CHAIN_FORMAT = b"pdvault/audit/v1"
_FORMAT = CHAIN_FORMAT.decode()
SEP = "\x1f"
NULL = "\x1e"  # not NUL: PostgreSQL text cannot hold it, and verify encodes in SQL
PRESENT = "\x1d"  # prefixes every value of a nullable column, so no stored text reads as NULL
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)


def genesis_hash(writer_id: uuid.UUID) -> bytes:
    return hashlib.sha256(CHAIN_FORMAT + b"|genesis|" + writer_id.bytes).digest()


def micros(at: datetime) -> int:
    """Microseconds since the epoch: exact, and the same on both engines."""
    return (at - EPOCH) // ONE_MICROSECOND


def fields_text(fields: Sequence[str]) -> str:
    """The JSON text both engines store for the ``fields`` column (``json.dumps`` of a list)."""
    return json.dumps(list(fields))


def canonical(
    seq: int,
    writer_hex: str,
    writer_seq: int,
    at_micros: int,
    request_id: str,
    principal_hex: str | None,
    role: str | None,
    action: str,
    customer_hex: str | None,
    fields_json: str,
    purpose: str | None,
    basis: str | None,
    outcome: str,
    reason: str | None,
) -> bytes:
    """Every column of an event in a fixed order, as primitives, separated by 0x1f.

    Values of nullable columns are prefixed with 0x1d and ``None`` is 0x1e, so no stored text
    (not even "" or a lone 0x1e) can pass for a NULL. Text the writer stores never holds
    0x1f (ids are hex, request ids are checked, the rest are names from the code), so a
    changed value cannot move a separator without changing the bytes.
    ``verify.py`` builds the same bytes in SQL from the stored columns; a test on both engines
    keeps the two in step.
    """
    return SEP.join(
        (
            _FORMAT,
            str(seq),
            writer_hex,
            str(writer_seq),
            str(at_micros),
            request_id,
            _opt(principal_hex),
            _opt(role),
            action,
            _opt(customer_hex),
            fields_json,
            _opt(purpose),
            _opt(basis),
            outcome,
            _opt(reason),
        )
    ).encode("utf-8")


def _opt(value: str | None) -> str:
    return NULL if value is None else PRESENT + value


def pg_hex(column: str) -> str:
    return f"replace({column}::text, '-', '')"


def _pg_opt(expr: str) -> str:
    return f"coalesce(E'\\x1d' || {expr}, E'\\x1e')"


# The same bytes as canonical(), as a PostgreSQL expression over columns of these names:
# verify.py builds them from the stored columns (the server formats rows in C while Python
# only hashes), and writer.py from the values it inserts (one statement per event).
PG_CANONICAL_SQL = (
    "convert_to(concat_ws(E'\\x1f', 'pdvault/audit/v1', seq::text, "
    + pg_hex("writer_id")
    + ", writer_seq::text, ((extract(epoch from at) * 1000000)::bigint)::text, request_id, "
    + ", ".join(
        (
            _pg_opt(pg_hex("principal_id")),
            _pg_opt("role"),
            "action",
            _pg_opt(pg_hex("customer_id")),
            "fields::text",
            _pg_opt("purpose"),
            _pg_opt("basis"),
            "outcome",
            _pg_opt("reason"),
        )
    )
    + "), 'UTF8')"
)


def link(prev_hash: bytes, event_bytes: bytes) -> bytes:
    return hashlib.sha256(prev_hash + event_bytes).digest()


def event_hash(prev_hash: bytes, row: dict[str, Any]) -> bytes:
    """The hash of an event as the writer holds it (Python values)."""
    principal, customer = row["principal_id"], row["customer_id"]
    return link(
        prev_hash,
        canonical(
            row["seq"],
            row["writer_id"].hex,
            row["writer_seq"],
            micros(row["at"]),
            row["request_id"],
            principal.hex if principal is not None else None,
            row["role"],
            row["action"],
            customer.hex if customer is not None else None,
            fields_text(row["fields"] or ()),
            row["purpose"],
            row["basis"],
            row["outcome"],
            row["reason"],
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
