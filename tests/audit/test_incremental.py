"""Incremental verification (audit/runs.py): a run starts from the last checkpoint a previous
successful, validly signed run verified, re-checks that checkpoint against the chain, and checks
only what came after. Tampering after the start is caught by both modes; tampering before it
by the full run; a tampered checkpoint or run record by both. Every run is kept.

Events are appended through the log's own writer (``AuditLog.append``), not through HTTP;
checkpoints are made on demand (the app's own checkpointer never fires during a test).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select, update

from pdvault.audit.ledger import AuditCheckpoint, AuditVerifyRun
from pdvault.audit.models import AccessEvent
from pdvault.audit.runs import VerifyRun, run_verify
from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.config import Settings
from pdvault.db import new_id
from tests.conftest import TokenFactory
from tests.helpers import assert_problem, cli_env, invoke_cli


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """As conftest's, but the app's own checkpointer never runs during a test."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        audit_checkpoint_every_seconds=3600,
        audit_checkpoint_every_events=1_000_000,
        _env_file=None,  # type: ignore[call-arg]
    )


async def append(app: Any, count: int, purpose: str = "order_confirmation") -> None:
    runtime = app.state.runtime
    drafts = [
        EventDraft(action="customer.read", outcome=ALLOWED, customer_id=new_id(), purpose=purpose)
        for _ in range(count)
    ]
    async with runtime.sessions() as session:
        await runtime.audit.append(session, None, *drafts)
        await session.commit()


async def checkpoint(app: Any) -> tuple[int, int]:
    """A checkpoint now: its id and seq."""
    await app.state.runtime.checkpointer.checkpoint_now()
    async with app.state.runtime.sessions() as session:
        row = (
            await session.execute(
                select(AuditCheckpoint.id, AuditCheckpoint.seq)
                .order_by(AuditCheckpoint.id.desc())
                .limit(1)
            )
        ).one()
    return int(row[0]), int(row[1])


async def verify(app: Any, *, full: bool) -> VerifyRun:
    runtime = app.state.runtime
    return await run_verify(runtime.engine, runtime.audit.signer, full=full)


async def sql(app: Any, *statements: Any) -> None:
    """Straight to the database, as an attacker with write access."""
    async with app.state.runtime.sessions() as session:
        for statement in statements:
            await session.execute(statement)
        await session.commit()


async def seqs(app: Any) -> list[int]:
    async with app.state.runtime.sessions() as session:
        return list((await session.scalars(select(AccessEvent.seq).order_by("seq"))).all())


def caught(run: VerifyRun, seq: int | None) -> None:
    assert run.ok is False, run
    assert run.result.first_invalid_seq == seq, run.result
    assert run.result.problem


async def test_first_run_is_full_then_each_run_checks_what_followed(app: Any) -> None:
    await append(app, 20)
    await append(app, 10)
    cp1, cp1_seq = await checkpoint(app)

    first = await verify(app, full=False)  # nothing verified yet: a full run
    assert (first.ok, first.mode, first.result.checked) == (True, "full", 30)
    assert first.from_checkpoint_id is None
    assert first.through_checkpoint_id == cp1

    await append(app, 7)
    cp2, _ = await checkpoint(app)
    await append(app, 3)
    second = await verify(app, full=False)
    assert (second.ok, second.mode) == (True, "incremental")
    assert second.from_checkpoint_id == cp1
    assert second.result.checked == 10
    assert second.result.from_seq == cp1_seq + 1
    assert second.result.last_seq == (await seqs(app))[-1]
    assert second.through_checkpoint_id == cp2
    assert second.result.checkpoints_checked == 2  # the start, re-checked, and the one after

    third = await verify(app, full=False)
    assert (third.ok, third.from_checkpoint_id, third.result.checked) == (True, cp2, 3)

    full = await verify(app, full=True)
    assert (full.ok, full.mode, full.result.checked) == (True, "full", 40)


async def test_an_event_after_the_start_is_caught_by_both_and_stays_caught(app: Any) -> None:
    await append(app, 15)
    await checkpoint(app)
    assert (await verify(app, full=True)).ok
    await append(app, 6)
    await checkpoint(app)
    await append(app, 4)
    all_seqs = await seqs(app)
    victim = all_seqs[18]  # after the start, before the later checkpoint
    tail = all_seqs[-2]  # after every checkpoint
    await sql(app, update(AccessEvent).where(AccessEvent.seq == victim).values(purpose="marketing"))

    caught(await verify(app, full=False), victim)
    caught(await verify(app, full=True), victim)
    # A failed run moves nothing: the next incremental run starts where the last good one ended.
    caught(await verify(app, full=False), victim)

    await sql(
        app,
        update(AccessEvent).where(AccessEvent.seq == victim).values(purpose="order_confirmation"),
        update(AccessEvent).where(AccessEvent.seq == tail).values(outcome="denied"),
    )
    caught(await verify(app, full=False), tail)  # a naive edit after the last checkpoint


async def test_an_event_before_the_start_is_the_full_runs_to_catch(app: Any) -> None:
    await append(app, 15)
    await checkpoint(app)
    assert (await verify(app, full=True)).ok
    await append(app, 5)
    victim = (await seqs(app))[4]  # before the checkpoint, not its head
    await sql(app, update(AccessEvent).where(AccessEvent.seq == victim).values(purpose="marketing"))

    incremental = await verify(app, full=False)
    assert incremental.ok, "documented: an incremental run does not look before its start"
    assert incremental.result.checked == 5
    caught(await verify(app, full=True), victim)


async def test_the_starting_checkpoints_head_is_rechecked(app: Any) -> None:
    await append(app, 12)
    _, head = await checkpoint(app)
    assert (await verify(app, full=True)).ok
    await append(app, 3)

    # a column of the head changed, its hash left alone
    await sql(app, update(AccessEvent).where(AccessEvent.seq == head).values(role="admin"))
    run = await verify(app, full=False)
    caught(run, head)
    assert run.mode == "incremental"
    await sql(app, update(AccessEvent).where(AccessEvent.seq == head).values(role=None))
    assert (await verify(app, full=False)).ok

    # the head's hash rewritten: no longer what the checkpoint signed
    await sql(app, update(AccessEvent).where(AccessEvent.seq == head).values(hash=b"\x00" * 32))
    run = await verify(app, full=False)
    caught(run, head)
    assert "no longer matches" in str(run.result.problem)


@pytest.mark.parametrize("which", ["start", "later"])
async def test_a_tampered_checkpoint_signature_is_caught_by_both(app: Any, which: str) -> None:
    await append(app, 10)
    start, start_seq = await checkpoint(app)
    assert (await verify(app, full=True)).ok
    await append(app, 4)
    later, later_seq = await checkpoint(app)
    target, target_seq = (start, start_seq) if which == "start" else (later, later_seq)
    await sql(
        app,
        update(AuditCheckpoint).where(AuditCheckpoint.id == target).values(signature=b"\x01" * 64),
    )
    for full in (False, True):
        run = await verify(app, full=full)
        caught(run, target_seq)
        assert "not validly signed" in str(run.result.problem)


async def test_a_forged_or_edited_run_record_cannot_move_the_start(app: Any) -> None:
    await append(app, 10)
    await checkpoint(app)
    assert (await verify(app, full=True)).ok
    await append(app, 5)
    later, _ = await checkpoint(app)
    victim = (await seqs(app))[12]
    await sql(app, update(AccessEvent).where(AccessEvent.seq == victim).values(purpose="marketing"))
    caught(await verify(app, full=False), victim)

    # The attacker moves the last good run's end past the edited event.
    await sql(
        app,
        update(AuditVerifyRun)
        .where(AuditVerifyRun.ok.is_(True))
        .values(through_checkpoint_id=later),
    )
    run = await verify(app, full=False)
    assert run.ok is False
    assert "not validly signed" in str(run.result.problem)

    # ... or writes a successful run of its own.
    await sql(app, delete(AuditVerifyRun))
    async with app.state.runtime.sessions() as session:
        template = AuditVerifyRun(
            started_at=func.now(),
            finished_at=func.now(),
            mode="full",
            through_checkpoint_id=later,
            ok=True,
            events_checked=15,
            checkpoints_checked=2,
            key_id=app.state.runtime.audit.signer.key_id,
            signature=b"\x02" * 64,
        )
        session.add(template)
        await session.commit()
    run = await verify(app, full=False)
    assert run.ok is False
    assert "not validly signed" in str(run.result.problem)


async def test_the_starting_checkpoint_deleted_is_caught(app: Any) -> None:
    await append(app, 10)
    start, _ = await checkpoint(app)
    assert (await verify(app, full=True)).ok
    await append(app, 2)
    await sql(app, delete(AuditCheckpoint).where(AuditCheckpoint.id == start))
    run = await verify(app, full=False)
    assert run.ok is False
    assert "gone" in str(run.result.problem)


@pytest.mark.postgresql_only
async def test_an_event_below_the_checkpoints_seq_but_not_in_it_is_checked(app: Any) -> None:
    """A transaction drew its seq, another committed after it, the checkpoint was made, then
    the first committed: its event is below the checkpoint's seq but no head covers it. The
    next incremental run from that checkpoint still checks it."""
    runtime = app.state.runtime
    await append(app, 5)
    draft = EventDraft(action="customer.read", outcome=ALLOWED, customer_id=new_id())
    async with runtime.sessions() as slow:
        await runtime.audit.append(slow, None, draft)
        async with runtime.sessions() as quick:
            await runtime.audit.append(quick, None, draft)
            await quick.commit()
        _, cp_seq = await checkpoint(app)
        await slow.commit()
    late = (await seqs(app))[5]
    assert late < cp_seq
    assert (await verify(app, full=True)).ok  # ends at that checkpoint
    await sql(app, update(AccessEvent).where(AccessEvent.seq == late).values(purpose="marketing"))
    run = await verify(app, full=False)
    assert run.mode == "incremental"
    caught(run, late)


# -- the API and the command line ------------------------------------------------------------


async def test_api_full_by_default_incremental_on_request_and_the_run_history(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory
) -> None:
    auditor = await issue("auditor")
    await append(app, 8)
    cp, _ = await checkpoint(app)

    r = await client.get("/v1/audit/verify", headers=auditor.headers)
    assert r.status_code == 200, r.text
    full = r.json()
    assert (full["ok"], full["mode"], full["from_checkpoint_id"]) == (True, "full", None)
    await append(app, 3)
    r = await client.get("/v1/audit/verify", params={"full": "false"}, headers=auditor.headers)
    assert r.status_code == 200, r.text
    inc = r.json()
    assert (inc["ok"], inc["mode"], inc["from_checkpoint_id"]) == (True, "incremental", cp)
    assert inc["checked"] == 3 + 2  # and both verify requests' own events
    r = await client.get("/v1/audit/verify", headers=auditor.headers)  # still full by default
    assert r.json()["mode"] == "full"
    assert_problem(
        await client.get("/v1/audit/verify", params={"full": "maybe"}, headers=auditor.headers),
        422,
    )

    r = await client.get("/v1/audit/verify/runs", params={"limit": 2}, headers=auditor.headers)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [i["mode"] for i in page["items"]] == ["full", "incremental"]  # newest first
    assert page["items"][0]["id"] > page["items"][1]["id"]
    assert page["items"][1]["from_checkpoint_id"] == cp
    assert page["items"][1]["events_checked"] == 5
    assert page["next_cursor"]
    r = await client.get(
        "/v1/audit/verify/runs", params={"cursor": page["next_cursor"]}, headers=auditor.headers
    )
    rest = r.json()
    assert [i["mode"] for i in rest["items"]] == ["full"]
    assert rest["next_cursor"] is None
    assert rest["items"][0]["through_checkpoint_id"] == cp

    for role in ("dpo", "employee"):
        other = await issue(role)
        assert_problem(await client.get("/v1/audit/verify/runs", headers=other.headers), 403)
    assert_problem(
        await client.get("/v1/audit/verify/runs", params={"cursor": "!!"}, headers=auditor.headers),
        422,
    )


async def test_cli_incremental_by_default_full_on_request(
    app: Any, keyring: Any, database_url: str, tmp_path: Path
) -> None:
    await append(app, 9)
    cp, _ = await checkpoint(app)
    env = cli_env(
        PDVAULT_DATABASE_URL=database_url,
        PDVAULT_KEYS_JSON=keyring.to_json(),
        PDVAULT_DATA_DIR=str(tmp_path / "cli-data"),
    )
    first = await asyncio.to_thread(invoke_cli, "audit", "verify", env=env, cwd=tmp_path)
    assert first.code == 0, first
    assert "9 events verified (full: the whole log)" in first.out, first.out
    await append(app, 2)
    second = await asyncio.to_thread(invoke_cli, "audit", "verify", "--json", env=env, cwd=tmp_path)
    assert second.code == 0, second
    body = json.loads(second.out)
    assert (body["mode"], body["from_checkpoint_id"], body["checked"]) == ("incremental", cp, 2)
    plain = await asyncio.to_thread(invoke_cli, "audit", "verify", env=env, cwd=tmp_path)
    assert f"(incremental: after checkpoint {cp})" in plain.out, plain.out
    full = await asyncio.to_thread(
        invoke_cli, "audit", "verify", "--full", "--json", env=env, cwd=tmp_path
    )
    assert full.code == 0, full
    assert (json.loads(full.out)["mode"], json.loads(full.out)["checked"]) == ("full", 11)
    helped = await asyncio.to_thread(invoke_cli, "audit", "verify", "--help", env=env, cwd=tmp_path)
    assert "--full" in helped.out
