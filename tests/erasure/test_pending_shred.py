"""An erasure is done only once no copy of the wrapped data key is left in the database files
(issue 14.2). SQLite: a reader holding an older snapshot (a backup, a nightly verify) keeps
the write-ahead log from being folded back, so the erasure reports ``pending`` and says so in
its event; ``pdvault retention sweep`` settles it once the reader is gone. PostgreSQL: the key
leaves the live rows at the commit (dead tuples until vacuum, docs/erasure.md), so the
erasure is ``complete`` even while another snapshot is open.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url

from pdvault.crypto.keyring import Keyring
from pdvault.customers.models import Customer
from pdvault.erasure import router as erasure_router
from pdvault.erasure.models import DeletionRequest
from pdvault.erasure.shred import CHECKPOINT_PAUSE_SECONDS, settle_storage
from tests.audit.test_cli import Cli
from tests.conftest import Issued, access_events
from tests.erasure.test_shredding import present, stored_bytes
from tests.rights_fixtures import DELETIONS, SubjectFactory, approve_deletion, file_deletion


async def wrapped_key_of(app: Any, customer_id: str) -> bytes:
    async with app.state.runtime.sessions() as session:
        row = await session.scalar(select(Customer).where(Customer.id == uuid.UUID(customer_id)))
        assert row is not None
        assert row.wrapped_dek
        return bytes(row.wrapped_dek)


def shred_reasons(events: list[dict[str, Any]]) -> list[str]:
    return [e["reason"] for e in events if e["action"] == "deletion.shred"]


async def shredding_of(app: Any, request_id: str) -> str | None:
    async with app.state.runtime.sessions() as session:
        req = await session.get(DeletionRequest, uuid.UUID(request_id))
        assert req is not None
        return req.shredding


async def test_a_reader_holding_a_snapshot_keeps_the_erasure_pending_until_the_sweep(
    client: httpx.AsyncClient,
    app: Any,
    database_url: str,
    engine_name: str,
    subject: SubjectFactory,
    shop: Issued,
    dpo: Issued,
) -> None:
    s = await subject()
    request = await file_deletion(client, shop, s.id)
    key = {"wrapped_dek": await wrapped_key_of(app, s.id)}

    # Another reader takes its snapshot before the erasure and keeps it (a backup, a verify).
    if engine_name == "sqlite":
        path = str(make_url(database_url).database)
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM customers").fetchone()
        holder: Any = reader
    else:
        conn = await app.state.runtime.engine.connect()
        await conn.execution_options(isolation_level="REPEATABLE READ")
        await conn.execute(text("SELECT count(*) FROM customers"))
        holder = conn

    try:
        r = await approve_deletion(client, dpo, request["id"])
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "executed"
        events = await access_events(app, customer_id=s.id)
        after = stored_bytes(database_url, engine_name)
        if engine_name == "sqlite":
            # Not done: the old page images (the wrapped key among them) are still on disk.
            assert r.json()["shredding"] == "pending"
            assert shred_reasons(events) == ["shred_pending"]
            assert present(after, key, engine_name) == ["wrapped_dek"]
            wal = await asyncio.to_thread(Path(f"{path}-wal").read_bytes)
            assert key["wrapped_dek"] in wal
        else:
            # No live row holds the key: a dump (a new snapshot) has none of it.
            assert r.json()["shredding"] == "complete"
            assert shred_reasons(events) == ["shred_complete"]
            assert present(after, key, engine_name) == []
        got = await client.get(f"{DELETIONS}/{request['id']}", headers=dpo.headers)
        assert got.json()["shredding"] == r.json()["shredding"]
    finally:
        if engine_name == "sqlite":
            holder.execute("COMMIT")
            holder.close()
        else:
            await holder.rollback()
            await holder.close()

    # The sweep (pdvault retention sweep) settles what is pending, and says so.
    from pdvault.erasure.ops import settle_pending

    runtime = app.state.runtime
    async with runtime.sessions() as session:
        done = await settle_pending(runtime.engine, session, runtime.audit)
    assert done.pending == 0
    assert done.settled == (1 if engine_name == "sqlite" else 0)
    assert await shredding_of(app, request["id"]) == "complete"
    assert present(stored_bytes(database_url, engine_name), key, engine_name) == []
    events = await access_events(app, customer_id=s.id)
    assert shred_reasons(events)[-1] == "shred_complete"
    r = await client.get(f"{DELETIONS}/{request['id']}", headers=dpo.headers)
    assert r.json()["shredding"] == "complete"


async def test_without_readers_the_erasure_is_complete_at_once(
    client: httpx.AsyncClient,
    app: Any,
    database_url: str,
    engine_name: str,
    subject: SubjectFactory,
    shop: Issued,
    dpo: Issued,
) -> None:
    if engine_name == "sqlite":  # every pooled connection zeroes what it frees
        async with app.state.runtime.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA secure_delete")).scalar() == 1
    s = await subject()
    request = await file_deletion(client, shop, s.id)
    key = {"wrapped_dek": await wrapped_key_of(app, s.id)}
    r = await approve_deletion(client, dpo, request["id"])
    assert r.status_code == 200, r.text
    assert r.json()["shredding"] == "complete"
    assert present(stored_bytes(database_url, engine_name), key, engine_name) == []
    events = await access_events(app, customer_id=s.id)
    assert [e["action"] for e in events][-2:] == ["deletion.execute", "deletion.shred"]
    assert shred_reasons(events) == ["shred_complete"]
    assert await shredding_of(app, request["id"]) == "complete"
    # A request not executed has no shredding state.
    other = await subject()
    pending = await file_deletion(client, shop, other.id)
    assert pending["shredding"] is None


async def test_a_busy_checkpoint_is_retried_before_the_erasure_is_called_pending(
    client: httpx.AsyncClient,
    app: Any,
    database_url: str,
    engine_name: str,
    subject: SubjectFactory,
    shop: Issued,
    dpo: Issued,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A snapshot released while the erasure retries its checkpoint: complete, not pending."""
    s = await subject()
    request = await file_deletion(client, shop, s.id)
    if engine_name != "sqlite":
        r = await approve_deletion(client, dpo, request["id"])
        assert r.json()["shredding"] == "complete"
        return
    reader = sqlite3.connect(str(make_url(database_url).database), isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM customers").fetchone()

    pauses: list[float] = []

    async def release_in_the_pause(seconds: float) -> None:
        """The pause between checkpoint attempts: the reader lets go there, at once."""
        pauses.append(seconds)
        if len(pauses) == 1:
            reader.execute("COMMIT")
            reader.close()

    retrying = functools.partial(settle_storage, sleep=release_in_the_pause)
    monkeypatch.setattr(erasure_router, "settle_storage", retrying)
    r = await approve_deletion(client, dpo, request["id"])
    assert pauses == [CHECKPOINT_PAUSE_SECONDS]  # the first attempt was busy, the second not
    assert r.status_code == 200, r.text
    assert r.json()["shredding"] == "complete"
    assert shred_reasons(await access_events(app, customer_id=s.id)) == ["shred_complete"]


async def test_the_retention_sweep_command_settles_pending_erasures(
    client: httpx.AsyncClient,
    app: Any,
    database_url: str,
    engine_name: str,
    keyring: Keyring,
    tmp_path: Path,
    subject: SubjectFactory,
    shop: Issued,
    dpo: Issued,
) -> None:
    """``pdvault retention sweep`` for real: still pending while a reader holds its snapshot
    (SQLite: exit 1, saying so), then settled and logged once it has gone."""
    s = await subject()
    request = await file_deletion(client, shop, s.id)
    assert (await approve_deletion(client, dpo, request["id"])).status_code == 200
    # As an erasure that met a reader (or one executed before migration 0010) leaves it.
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(DeletionRequest)
            .where(DeletionRequest.id == uuid.UUID(request["id"]))
            .values(shredding="pending")
        )
        await session.commit()
    cli = Cli(database_url, keyring, tmp_path)

    if engine_name == "sqlite":
        reader = sqlite3.connect(str(make_url(database_url).database), isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM customers").fetchone()
        async with app.state.runtime.sessions() as session:  # a write the reader has not seen
            await session.execute(text("UPDATE customers SET version = version"))
            await session.commit()
        try:
            busy = await cli.run("retention", "sweep")
        finally:
            reader.execute("COMMIT")
            reader.close()
        assert busy.code == 1, busy
        assert "1 still pending" in busy.out
        assert len(busy.err_lines) == 1
        assert "still pending" in busy.err
        assert await shredding_of(app, request["id"]) == "pending"

    done = await cli.run("retention", "sweep")
    assert done.code == 0, done
    assert "erasures: 1 settled, 0 still pending" in done.out
    assert await shredding_of(app, request["id"]) == "complete"
    events = await access_events(app, customer_id=s.id, action="deletion.shred")
    assert events[-1]["reason"] == "shred_complete"
    assert events[-1]["principal_id"] is None
    again = await cli.run("retention", "sweep")
    assert again.code == 0, again
    assert "erasures" not in again.out  # nothing was pending: the documents' line alone
