"""Tamper evidence: every way of editing the stored log behind the service's back is caught,
and verification names the first sequence number at which the log stops being what was written.

The log is written once per engine by concurrent requests through two app instances (two
"workers" sharing the database), checkpointed, and snapshotted; every case restores that
snapshot, checks it verifies, tampers through a raw SQLAlchemy connection and verifies again.

Undetectable by design, so every case here checkpoints before tampering: removing the last
events of a writer's chain after the last signed checkpoint, or appending correctly hashed
events to a chain's tail after it. No signature covers those events yet; the next checkpoint
does. Everything a checkpoint covers is caught.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from pdvault.audit.chain import checkpoint_statement, event_hash, genesis_hash, heads_root
from pdvault.audit.ledger import AuditCheckpoint, AuditWriter
from pdvault.audit.models import AccessEvent
from pdvault.audit.signing import LogSigner
from pdvault.audit.verify import VerifyResult, verify_log
from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring
from pdvault.crypto.provider import LocalKeyProvider
from pdvault.db import utcnow
from pdvault.main import create_app
from pdvault.policy import Role
from pdvault.principals import service as principals
from pdvault.principals.schemas import PrincipalIn
from tests.conftest import TokenFactory, customer_body, truncate_all
from tests.helpers import cli_env, invoke_cli

EV = AccessEvent.__table__
WR = AuditWriter.__table__
CP = AuditCheckpoint.__table__
SEEDS = [7, 1234, 90210]
EVENT_FIELDS = [
    "at",
    "request_id",
    "principal_id",
    "role",
    "action",
    "customer_id",
    "fields",
    "purpose",
    "basis",
    "outcome",
    "reason",
    "token_id",
    "target_principal_id",
    "target_token_id",
    "writer_id",
    "writer_seq",
    "hash",
    "seq",
]
TOKEN_FIELDS = ["token_id", "target_principal_id", "target_token_id"]
assert set(EVENT_FIELDS) == {c.name for c in EV.columns}, "a new event column is not tampered"

Row = dict[str, Any]


# -- the log under test: written once per engine by concurrent requests ------------------


@dataclass
class Snapshot:
    events: list[Row]  # ordered by seq
    writers: list[Row]
    checkpoints: list[Row]  # ordered by id
    public_raw: bytes
    key_id: str

    @property
    def max_seq(self) -> int:
        return int(self.events[-1]["seq"])

    def chain(self, writer_id: uuid.UUID) -> list[Row]:
        return [e for e in self.events if e["writer_id"] == writer_id]

    def following(self, event: Row) -> Row | None:
        """The next event of the same writer's chain, if any."""
        for e in self.events:
            if e["writer_id"] == event["writer_id"] and e["writer_seq"] == event["writer_seq"] + 1:
                return e
        return None

    def first_of(self, writer_id: uuid.UUID) -> Row:
        return min(self.chain(writer_id), key=lambda e: e["seq"])


async def _admin_token(app: Any) -> str:
    async with app.state.runtime.sessions() as session:
        principal = await principals.create_principal(
            session, PrincipalIn(name="tamper-admin", role=Role.ADMIN)
        )
        created = await principals.issue_token(session, principal, 1)
        await session.commit()
    return created.token


async def _write_log(clients: list[httpx.AsyncClient], admin_token: str) -> None:
    """A few hundred events from concurrent reads, creates, searches and denials, by several
    roles, spread over two app instances."""
    admin = {"Authorization": f"Bearer {admin_token}"}
    tokens: dict[str, dict[str, str]] = {}
    for role in ("storefront", "employee", "dpo", "auditor", "legal"):
        r = await clients[0].post(
            "/v1/principals", json={"name": f"tamper-{role}", "role": role}, headers=admin
        )
        assert r.status_code == 201, r.text
        r = await clients[1].post(
            f"/v1/principals/{r.json()['id']}/tokens", json={"expires_in_days": 1}, headers=admin
        )
        assert r.status_code == 201, r.text
        tokens[role] = {"Authorization": f"Bearer {r.json()['token']}"}

    gate = asyncio.Semaphore(16)

    async def send(i: int, method: str, url: str, role: str, **kw: Any) -> httpx.Response:
        async with gate:
            return await clients[i % 2].request(method, url, headers=tokens[role], **kw)

    bodies = [customer_body() for _ in range(24)]
    created = await asyncio.gather(
        *(
            send(i, "POST", "/v1/customers", "storefront" if i % 3 else "employee", json=body)
            for i, body in enumerate(bodies)
        )
    )
    assert all(r.status_code == 201 for r in created), [r.text for r in created]
    ids = [r.json()["id"] for r in created]

    def request(i: int) -> Awaitable[httpx.Response]:
        cid = ids[i % len(ids)]
        url = f"/v1/customers/{cid}"
        match i % 9:
            case 0:
                return send(i, "GET", url, "employee", params={"purpose": "order_confirmation"})
            case 1:
                return send(
                    i, "GET", url, "storefront", params={"purpose": "customer_self_service"}
                )
            case 2:  # denied: the storefront never reads for staff purposes
                return send(i, "GET", url, "storefront", params={"purpose": "order_confirmation"})
            case 3:  # denied at the gate
                return send(i, "GET", url, "auditor", params={"purpose": "order_confirmation"})
            case 4:
                email = bodies[i % len(bodies)]["email"]
                body = {"email": email, "purpose": "product_consultation"}
                return send(i, "POST", "/v1/customers/search", "employee", json=body)
            case 5:  # denied: no marketing consent
                return send(i, "GET", url, "employee", params={"purpose": "marketing"})
            case 6:
                return send(i, "POST", "/v1/customers", "storefront", json=customer_body())
            case 7:  # denied: no open case
                return send(i, "GET", url, "dpo", params={"purpose": "data_subject_request"})
            case _:
                return send(i, "GET", "/v1/audit/events", "auditor", params={"limit": 5})

    responses = await asyncio.gather(*(request(i) for i in range(300)))
    assert all(r.status_code in {200, 201, 403} for r in responses), {
        r.status_code for r in responses
    }


async def _write_events_naming_no_token(apps: list[Any]) -> None:
    """Events without a token or a target, as every event was before those columns existed
    (their canonical form is the 14-column one): the log holds both forms, interleaved."""
    for i in range(6):
        runtime = apps[i % 2].state.runtime
        async with runtime.sessions() as session:
            await runtime.audit.append(
                session, None, EventDraft(action="retention.sweep", outcome=ALLOWED)
            )
            await session.commit()


async def _rows(conn: AsyncConnection, table: Any, order: Any) -> list[Row]:
    result = await conn.execute(select(table).order_by(order))
    return [dict(r._mapping) for r in result]


async def _build(database_url: str, keyring: Keyring, data_dir: Path) -> Snapshot:
    await truncate_all(database_url)
    apps = [
        create_app(
            Settings(
                database_url=database_url,
                data_dir=data_dir / f"app{i}",
                audit_checkpoint_every_events=90,  # a few checkpoints while requests run
                _env_file=None,  # type: ignore[call-arg]
            ),
            LocalKeyProvider(keyring),
        )
        for i in range(2)
    ]
    async with AsyncExitStack() as stack:
        clients = []
        for application in apps:
            await stack.enter_async_context(application.router.lifespan_context(application))
            transport = httpx.ASGITransport(app=application)
            clients.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://testserver")
                )
            )
        await _write_log(clients, await _admin_token(apps[0]))
        await _write_events_naming_no_token(apps)
        await apps[0].state.runtime.checkpointer.checkpoint_now()
        signer: LogSigner = apps[0].state.runtime.audit.signer
        result = await verify_log(apps[0].state.runtime.engine, signer.public_raw)
        async with apps[0].state.runtime.engine.connect() as conn:
            snap = Snapshot(
                await _rows(conn, EV, EV.c.seq),
                await _rows(conn, WR, WR.c.writer_id),
                await _rows(conn, CP, CP.c.id),
                signer.public_raw,
                signer.key_id,
            )
    assert result.ok, result
    assert result.checked == len(snap.events)
    return snap


@pytest.fixture(scope="module")
def built(
    database_url: str, keyring: Keyring, tmp_path_factory: pytest.TempPathFactory
) -> Snapshot:
    snap = asyncio.run(_build(database_url, keyring, tmp_path_factory.mktemp("tamper")))
    assert len(snap.events) >= 300
    assert len(snap.writers) >= 2  # two app instances, so at least two interleaved chains
    assert len(snap.checkpoints) >= 2
    assert any(e["token_id"] is None for e in snap.events)  # both canonical forms are there
    assert any(e["target_token_id"] is not None for e in snap.events)
    return snap


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A connection straight to the database, as an attacker with write access has."""
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


async def restore(engine: AsyncEngine, snap: Snapshot) -> None:
    async with engine.begin() as conn:
        for table in (EV, WR, CP):
            await conn.execute(delete(table))
        await conn.execute(insert(WR), snap.writers)
        await conn.execute(insert(CP), snap.checkpoints)
        await conn.execute(insert(EV), snap.events)
        if engine.dialect.name == "postgresql":
            for table, column in (("access_events", "seq"), ("audit_checkpoints", "id")):
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                        f"(SELECT MAX({column}) FROM {table}))"
                    )
                )


async def fresh(engine: AsyncEngine, snap: Snapshot) -> None:
    """Back to the untouched log, and prove it verifies."""
    await restore(engine, snap)
    result = await verify_log(engine, snap.public_raw)
    assert result.ok, result
    assert result.checked == len(snap.events)
    assert result.first_invalid_seq is None


async def caught(engine: AsyncEngine, snap: Snapshot, expected_seq: int, what: str) -> VerifyResult:
    result = await verify_log(engine, snap.public_raw)
    assert result.ok is False, f"{what}: not caught"
    assert result.first_invalid_seq == expected_seq, f"{what}: {result}"
    assert result.problem
    return result


async def _sql(engine: AsyncEngine, *statements: Any) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(statement)


def _positions(rng: random.Random, snap: Snapshot, k: int) -> list[Row]:
    return rng.sample(snap.events, k)


# -- the untouched log ----------------------------------------------------------------------


async def test_untouched_log_from_concurrent_requests_verifies(
    built: Snapshot, db: AsyncEngine
) -> None:
    await fresh(db, built)
    result = await verify_log(db, built.public_raw)
    assert result.writers == len(built.writers)
    assert result.checkpoints_checked == len(built.checkpoints)
    assert result.checkpoint is not None
    assert result.checkpoint["seq"] == built.max_seq
    seqs = [e["seq"] for e in built.events]
    assert len(set(seqs)) == len(seqs)
    # Several chains interleave in seq order: the writers really ran side by side.
    writers_in_order = [e["writer_id"] for e in built.events]
    switches = sum(1 for a, b in itertools.pairwise(writers_in_order) if a != b)
    assert switches >= 2


# -- one field of one event ------------------------------------------------------------------


def _other_writer(snap: Snapshot, event: Row) -> uuid.UUID | None:
    """A registered writer that has no event at this event's writer_seq (a legal UPDATE)."""
    for w in snap.writers:
        wid = w["writer_id"]
        if wid != event["writer_id"] and len(snap.chain(wid)) < event["writer_seq"]:
            return uuid.UUID(str(wid))
    return None


def _changed(column: str, event: Row, snap: Snapshot, turn: int) -> Any:
    value = event[column]
    match column:
        case "at":
            return value + timedelta(microseconds=1)
        case "request_id":
            return value[:-1] + ("0" if value[-1] != "0" else "1")
        case "principal_id" | "customer_id":
            return uuid.uuid4()
        case "token_id" | "target_principal_id" | "target_token_id":
            # Set where there was none, cleared, or replaced.
            return uuid.uuid4() if value is None or turn % 2 == 0 else None
        case "role":
            return "dpo" if value != "dpo" else "employee"
        case "action":
            return "customer.search" if value != "customer.search" else "customer.read"
        case "fields":
            fields = list(value or [])
            return [f for f in fields if f != "phone"] if "phone" in fields else [*fields, "phone"]
        case "purpose":
            return "marketing" if value != "marketing" else "order_confirmation"
        case "basis":
            return "purpose:marketing" if value is None else None
        case "outcome":
            return "denied" if value == "allowed" else "allowed"
        case "reason":
            return "role_not_permitted" if value is None else None
        case "writer_id":
            other = _other_writer(snap, event) if turn % 2 else None
            return other or uuid.uuid4()
        case "writer_seq":
            return value + 100_000
        case "hash":
            return bytes([value[0] ^ 0x01]) + value[1:]
    raise AssertionError(column)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("column", EVENT_FIELDS)
async def test_changing_one_field_of_an_event_is_caught(
    built: Snapshot, db: AsyncEngine, column: str, seed: int
) -> None:
    rng = random.Random(f"{seed}-{column}")
    for turn, event in enumerate(_positions(rng, built, 3)):
        await fresh(db, built)
        seq = event["seq"]
        if column == "seq":
            # Renumbered to an unused value: after the end, or before the start.
            new_seq = built.max_seq + rng.randint(1, 50) if turn % 2 == 0 else 0
            await _sql(db, update(EV).where(EV.c.seq == seq).values(seq=new_seq))
            nxt = built.following(event)
            # Forward: the gap in its chain shows first (at the next event of that chain),
            # unless it was the chain's last event, then the moved event's hash fails.
            # Backward: the moved event comes first and fails itself.
            expected = new_seq if new_seq == 0 or nxt is None else nxt["seq"]
        else:
            new = _changed(column, event, built, turn)
            assert new != event[column]
            await _sql(db, update(EV).where(EV.c.seq == seq).values({column: new}))
            expected = seq
        await caught(db, built, expected, f"{column} of seq {seq}")


# -- a deleted event -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
async def test_deleting_an_event_is_caught(built: Snapshot, db: AsyncEngine, seed: int) -> None:
    rng = random.Random(seed)
    chosen = _positions(rng, built, 4)
    # Always include some chain's last event: only the checkpoint can catch that one.
    last_of_chain = [e for e in built.events if built.following(e) is None]
    chosen.append(rng.choice(last_of_chain))
    for event in chosen:
        await fresh(db, built)
        await _sql(db, delete(EV).where(EV.c.seq == event["seq"]))
        nxt = built.following(event)
        expected = nxt["seq"] if nxt is not None else event["seq"]
        await caught(db, built, expected, f"delete seq {event['seq']}")


# -- forged events ---------------------------------------------------------------------------


async def _insert_at(engine: AsyncEngine, row: Row, writer: Row | None = None) -> None:
    """Insert an event at ``row['seq']``; in the middle of the log, first shift every later
    event up by one (seq has no free values there, so a forger has to make room)."""
    p = row["seq"]
    async with engine.begin() as conn:
        if writer is not None:
            await conn.execute(insert(WR), [writer])
        if p > 0:
            await conn.execute(update(EV).where(EV.c.seq >= p).values(seq=-EV.c.seq - 1))
            await conn.execute(update(EV).where(EV.c.seq < 0).values(seq=-EV.c.seq))
        await conn.execute(insert(EV), [row])


def _plausible(template: Row, seq: int, writer_id: uuid.UUID, writer_seq: int) -> Row:
    row = dict(template)
    row.update(
        seq=seq,
        writer_id=writer_id,
        writer_seq=writer_seq,
        at=utcnow(),
        request_id=uuid.uuid4().hex,
    )
    return row


@pytest.mark.parametrize("seed", SEEDS)
async def test_forged_event_of_an_existing_writer_is_caught(
    built: Snapshot, db: AsyncEngine, seed: int
) -> None:
    """The forger knows the chain format: the row links correctly from the writer's head, with
    the writer's next free writer_seq, but sits in the middle of the log."""
    rng = random.Random(seed)
    for _ in range(3):
        await fresh(db, built)
        p = rng.randint(1, built.max_seq)
        later = [e for e in built.events if e["seq"] >= p]
        writer_id = rng.choice(later)["writer_id"]
        chain = built.chain(writer_id)
        head = chain[-1]
        row = _plausible(rng.choice(built.events), p, writer_id, head["writer_seq"] + 1)
        row["hash"] = event_hash(head["hash"], row)
        await _insert_at(db, row)
        await caught(db, built, p, f"forged event of an existing writer at {p}")


@pytest.mark.parametrize("seed", SEEDS)
async def test_forged_event_of_a_new_writer_is_caught(
    built: Snapshot, db: AsyncEngine, seed: int
) -> None:
    """A whole new chain, correctly hashed: unregistered, or registered without the key; in
    the middle, after the end, or before the start (seq 0 or negative: no lower bound)."""
    rng = random.Random(seed)
    for turn in range(6):
        await fresh(db, built)
        p = rng.randint(1, built.max_seq + 1) if turn < 4 else rng.randint(-1000, 0)
        writer_id = uuid.uuid4()
        row = _plausible(rng.choice(built.events), p, writer_id, 1)
        row["hash"] = event_hash(genesis_hash(writer_id), row)
        writer = None
        if turn % 2:
            writer = {
                "writer_id": writer_id,
                "registered_at": utcnow(),
                "process": "forger:1",
                "key_id": built.key_id,
                "signature": rng.choice(built.writers)["signature"],  # valid, for another writer
            }
        await _insert_at(db, row, writer)
        await caught(db, built, p, f"forged writer {'registered' if writer else 'unknown'} at {p}")


@pytest.mark.parametrize("seed", SEEDS)
async def test_copy_of_a_real_event_under_a_new_seq_is_caught(
    built: Snapshot, db: AsyncEngine, seed: int
) -> None:
    rng = random.Random(seed)
    for _ in range(3):
        await fresh(db, built)
        original = rng.choice(built.events)
        p = rng.randint(1, built.max_seq + 1)
        row = dict(original)
        row["seq"] = p
        # (writer_id, writer_seq) is unique: the copy takes the chain's next writer_seq.
        row["writer_seq"] = built.chain(original["writer_id"])[-1]["writer_seq"] + 1
        await _insert_at(db, row)
        await caught(db, built, p, f"copy of seq {original['seq']} at {p}")


@pytest.mark.parametrize("column", ["purpose", "basis", "reason"])
async def test_a_null_turned_into_the_null_marker_is_caught(
    built: Snapshot, db: AsyncEngine, column: str
) -> None:
    """NULL and the one-character text U+001E are different stored values: the API would show
    the marker where nothing was recorded, so the change must not verify."""
    rng = random.Random(column)
    candidates = [e for e in built.events if e[column] is None]
    assert candidates, f"no event with a NULL {column}"
    for event in rng.sample(candidates, min(2, len(candidates))):
        await fresh(db, built)
        marker = "\x1e"
        await _sql(db, update(EV).where(EV.c.seq == event["seq"]).values({column: marker}))
        await caught(db, built, event["seq"], f"{column} NULL -> U+001E at {event['seq']}")


WRONG_TYPES = {
    "role": "X'00ff'",  # a blob where text was stored
    "fields": "42",  # a number where JSON text was
    "writer_seq": "CAST(writer_seq AS TEXT) || 'x'",  # text where an integer was
    "at": "'not a time'",
    "customer_id": "' ' || substr(CAST(customer_id AS TEXT), 2)",  # not 32 hex digits
    "token_id": "' ' || substr(CAST(token_id AS TEXT), 2)",
    "target_token_id": "42",
}


@pytest.mark.parametrize("column", sorted(WRONG_TYPES))
async def test_a_value_of_another_type_is_caught_or_refused(
    built: Snapshot, db: AsyncEngine, column: str
) -> None:
    """SQLite stores any type in any column: verification must name the event, never crash.
    PostgreSQL refuses such a value or converts it to the column's type (then it is an
    ordinary changed value): either way nothing of another type gets past verification."""
    # The expressions built from the stored value change nothing on a NULL: the event comes
    # from those holding a value (the order of a concurrent build varies from run to run).
    holding = [e for e in built.events if e[column] is not None] or built.events
    event = holding[len(holding) // 2]
    await fresh(db, built)
    statement = text(
        f"UPDATE access_events SET {column} = {WRONG_TYPES[column]} WHERE seq = :seq"
    ).bindparams(seq=event["seq"])
    try:
        await _sql(db, statement)
    except DBAPIError:
        assert db.dialect.name == "postgresql"  # SQLite takes anything
        return
    await caught(db, built, event["seq"], f"{column} of another type at {event['seq']}")


# -- the token behind an event ---------------------------------------------------------------


def test_an_event_naming_no_token_hashes_as_before_the_token_columns() -> None:
    """The canonical form of an event without token or target is unchanged (a hash computed
    before the columns existed), so events already in a log verify after the upgrade."""
    writer = uuid.UUID("0190f3a0-0000-7000-8000-0000000000aa")
    row = {
        "seq": 42,
        "writer_id": writer,
        "writer_seq": 7,
        "at": datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC),
        "request_id": "3f2a9c0d6e1b4a7f8c5d2e1f0a9b8c7d",
        "principal_id": uuid.UUID("0190f3a0-0000-7000-8000-00000000000b"),
        "role": "employee",
        "action": "customer.read",
        "customer_id": uuid.UUID("0190f3a0-0000-7000-8000-000000000001"),
        "fields": ["full_name", "phone"],
        "purpose": "order_confirmation",
        "basis": "purpose:order_confirmation",
        "outcome": "allowed",
        "reason": None,
    }
    before = "4fb043d46e2ae8f0df3e3b6f5591ed509ee539710a9e4b6bf136136493aa01a2"
    assert event_hash(genesis_hash(writer), row).hex() == before
    nulls = dict.fromkeys(TOKEN_FIELDS)
    assert event_hash(genesis_hash(writer), {**row, **nulls}).hex() == before
    for column in TOKEN_FIELDS:
        named = {**row, **nulls, column: uuid.UUID(int=0)}
        assert event_hash(genesis_hash(writer), named).hex() != before, column


def test_python_hashes_every_stored_event_as_the_writer_did(built: Snapshot) -> None:
    """On PostgreSQL most events were hashed by the database (``record_send``), the rest and
    SQLite's by Python: both canonical forms, 14 and 17 columns, agree with chain.canonical."""
    forms = set()
    for writer in built.writers:
        prev = genesis_hash(uuid.UUID(str(writer["writer_id"])))
        for event in sorted(built.chain(writer["writer_id"]), key=lambda e: e["writer_seq"]):
            assert event_hash(prev, event) == event["hash"], event["seq"]
            prev = event["hash"]
            forms.add(any(event[c] is not None for c in TOKEN_FIELDS))
    assert forms == {True, False}


@pytest.mark.parametrize("seed", SEEDS)
async def test_the_token_behind_an_event_cannot_be_changed(
    built: Snapshot, db: AsyncEngine, seed: int
) -> None:
    """A read pinned on another token (or on none), a token named on an event that had none,
    and an issued token credited to another principal: each is caught at that event."""
    rng = random.Random(seed)
    with_token = [e for e in built.events if e["token_id"] is not None]
    without = [e for e in built.events if e["token_id"] is None]
    issued = [e for e in built.events if e["target_token_id"] is not None]
    tokens = sorted({e["token_id"] for e in with_token}, key=str)
    assert len(tokens) >= 2
    event = rng.choice(with_token)
    other = rng.choice([t for t in tokens if t != event["token_id"]])
    cases = [
        (event, {"token_id": other}, "another caller's token"),
        (event, {"token_id": None}, "token cleared"),
        (rng.choice(without), {"token_id": rng.choice(tokens)}, "token added"),
        (rng.choice(issued), {"target_principal_id": uuid.uuid4()}, "issued to another"),
        (rng.choice(issued), {"target_token_id": rng.choice(tokens)}, "another token issued"),
    ]
    for target, values, what in cases:
        await fresh(db, built)
        await _sql(db, update(EV).where(EV.c.seq == target["seq"]).values(values))
        await caught(db, built, target["seq"], f"{what} at {target['seq']}")


# -- two events swapped ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
async def test_swapping_two_events_is_caught(built: Snapshot, db: AsyncEngine, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(4):
        await fresh(db, built)
        a, b = sorted(rng.sample(built.events, 2), key=lambda e: e["seq"])
        swapped_a = {**b, "seq": a["seq"]}
        swapped_b = {**a, "seq": b["seq"]}
        await _sql(
            db,
            delete(EV).where(EV.c.seq.in_([a["seq"], b["seq"]])),
            insert(EV).values([swapped_a, swapped_b]),
        )
        await caught(db, built, a["seq"], f"swap {a['seq']} <-> {b['seq']}")


# -- the tail cut back behind a checkpoint ------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
async def test_cutting_the_tail_behind_a_checkpoint_is_caught(
    built: Snapshot, db: AsyncEngine, seed: int
) -> None:
    rng = random.Random(seed)
    pinned = sorted({int(h["seq"]) for cp in built.checkpoints for h in cp["heads"]})
    for _ in range(4):
        await fresh(db, built)
        checkpoint = rng.choice(built.checkpoints)
        cut = rng.randint(1, int(checkpoint["seq"]) - 1)
        await _sql(db, delete(EV).where(EV.c.seq > cut))
        expected = min(s for s in pinned if s > cut)
        result = await caught(db, built, expected, f"tail cut after {cut}")
        assert result.checked == sum(1 for e in built.events if e["seq"] <= cut)


# -- forged checkpoints and writer registrations ---------------------------------------------


def _flip(value: bytes) -> bytes:
    return value[:-1] + bytes([value[-1] ^ 0x80])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("how", ["root_hash", "heads", "signature", "events", "at", "other_key"])
async def test_forged_checkpoint_is_caught(
    built: Snapshot, db: AsyncEngine, seed: int, how: str
) -> None:
    rng = random.Random(f"{seed}-{how}")
    await fresh(db, built)
    checkpoint = rng.choice(built.checkpoints)
    where = CP.c.id == checkpoint["id"]
    heads = [dict(h) for h in checkpoint["heads"]]
    if how == "root_hash":
        statement: Any = update(CP).where(where).values(root_hash=_flip(checkpoint["root_hash"]))
        expected = checkpoint["seq"]
    elif how == "heads":
        # A head moved back to an earlier event of its chain; the root recomputed to match.
        head = rng.choice(heads)
        chain = built.chain(uuid.UUID(head["writer_id"]))
        earlier = chain[max(0, int(head["writer_seq"]) - 2)]
        head.update(writer_seq=earlier["writer_seq"], seq=earlier["seq"])
        head["hash"] = _flip(bytes.fromhex(head["hash"])).hex()
        statement = update(CP).where(where).values(heads=heads, root_hash=heads_root(heads))
        expected = checkpoint["seq"]
    elif how == "signature":
        statement = update(CP).where(where).values(signature=_flip(checkpoint["signature"]))
        expected = checkpoint["seq"]
    elif how == "events":
        statement = update(CP).where(where).values(events=checkpoint["events"] - 1)
        expected = checkpoint["seq"]
    elif how == "at":
        at = checkpoint["at"] + timedelta(microseconds=1)
        statement = update(CP).where(where).values(at=at)
        expected = checkpoint["seq"]
    else:
        # A complete, self-consistent checkpoint signed with a key that is not the vault's.
        at = utcnow()
        root = heads_root(heads)
        forged_key = Ed25519PrivateKey.generate()
        statement = insert(CP).values(
            at=at,
            seq=checkpoint["seq"],
            events=checkpoint["events"],
            root_hash=root,
            heads=heads,
            key_id=built.key_id,
            signature=forged_key.sign(
                checkpoint_statement(checkpoint["seq"], root, at, checkpoint["events"])
            ),
        )
        expected = checkpoint["seq"]
    await _sql(db, statement)
    result = await caught(db, built, expected, f"checkpoint {checkpoint['id']} {how}")
    assert "checkpoint" in (result.problem or "")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("how", ["signature", "registered_at", "process", "other_key"])
async def test_forged_writer_registration_is_caught(
    built: Snapshot, db: AsyncEngine, seed: int, how: str
) -> None:
    rng = random.Random(f"{seed}-{how}")
    await fresh(db, built)
    writer = rng.choice(built.writers)
    where = WR.c.writer_id == writer["writer_id"]
    if how == "signature":
        values: Row = {"signature": _flip(writer["signature"])}
    elif how == "registered_at":
        values = {"registered_at": writer["registered_at"] - timedelta(microseconds=1)}
    elif how == "process":
        values = {"process": writer["process"] + "0"}
    else:
        from pdvault.audit.chain import writer_statement

        statement = writer_statement(
            uuid.UUID(str(writer["writer_id"])), writer["registered_at"], writer["process"]
        )
        values = {"signature": Ed25519PrivateKey.generate().sign(statement)}
    await _sql(db, update(WR).where(where).values(values))
    first = built.first_of(writer["writer_id"])
    await caught(db, built, first["seq"], f"writer {writer['writer_id']} {how}")


# -- the API and the command line say the same ---------------------------------------------


def _cli_verify(database_url: str, keyring: Keyring, cwd: Path) -> tuple[int, dict[str, Any]]:
    env = cli_env(
        PDVAULT_DATABASE_URL=database_url,
        PDVAULT_KEYS_JSON=keyring.to_json(),
        PDVAULT_DATA_DIR=str(cwd / "cli-data"),
    )
    result = invoke_cli("audit", "verify", "--full", "--json", env=env, cwd=cwd)
    assert result.out.strip(), result.err
    out: dict[str, Any] = json.loads(result.out.strip().splitlines()[-1])
    return result.code, out


def _triple(result: dict[str, Any] | VerifyResult) -> tuple[Any, Any, Any]:
    if isinstance(result, VerifyResult):
        return result.ok, result.checked, result.first_invalid_seq
    return result["ok"], result["checked"], result["first_invalid_seq"]


async def test_api_and_cli_name_the_same_first_bad_seq(
    built: Snapshot,
    db: AsyncEngine,
    client: httpx.AsyncClient,
    issue: TokenFactory,
    database_url: str,
    keyring: Keyring,
    tmp_path: Path,
) -> None:
    await fresh(db, built)  # after the app fixture emptied the database
    auditor = await issue("auditor")  # new events, appended by this app's own writers

    r = await client.get("/v1/audit/verify", headers=auditor.headers)
    assert r.status_code == 200, r.text
    api = r.json()
    direct = await verify_log(db, built.public_raw)
    async with db.connect() as conn:
        total = int(await conn.scalar(select(func.count()).select_from(EV)) or 0)
    assert api["ok"] is True
    assert api["first_invalid_seq"] is None
    assert _triple(api) == _triple(direct) == (True, total, None)
    assert total > len(built.events)
    code, cli = await asyncio.to_thread(_cli_verify, database_url, keyring, tmp_path)
    assert code == 0, cli
    assert _triple(cli) == (True, total, None)

    rng = random.Random(99)
    victim = rng.choice(built.events)
    purpose = "marketing" if victim["purpose"] != "marketing" else None
    await _sql(db, update(EV).where(EV.c.seq == victim["seq"]).values(purpose=purpose))

    r = await client.get("/v1/audit/verify", headers=auditor.headers)
    assert r.status_code == 200, r.text
    api = r.json()
    direct = await verify_log(db, built.public_raw)
    assert api["ok"] is False
    assert api["first_invalid_seq"] == victim["seq"]
    assert api["checked"] == sum(1 for e in built.events if e["seq"] < victim["seq"])
    assert _triple(api) == _triple(direct)
    code, cli = await asyncio.to_thread(_cli_verify, database_url, keyring, tmp_path)
    assert code == 1, cli
    assert _triple(cli) == _triple(api)
    assert cli["problem"] == api["problem"]
