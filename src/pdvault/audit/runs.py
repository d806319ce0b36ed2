"""Verification runs: full or incremental, each kept with its result in ``audit_verify_runs``.

The one way to verify the log: the command line (``pdvault audit verify [--full]``), the API
(``GET /v1/audit/verify[?full=false]``) and the console all call ``run_verify``.

An incremental run starts from the last checkpoint that the latest successful run verified,
and checks only what came after it (``verify.verify_from``). It trusts that run's record only
as far as its signature goes: the record is signed with the log's key over its result and the
root of that checkpoint, so a row written or edited in the database, or a checkpoint changed
since, makes the run fail instead of moving its start. A failed run moves nothing: the next
incremental run starts where the last successful one ended, so a break stays reported until it
is dealt with. With no successful run to start from (a new log), the run is a full one.
docs/audit.md says what each mode proves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pdvault.audit.chain import verify_run_statement
from pdvault.audit.ledger import AuditCheckpoint, AuditVerifyRun
from pdvault.audit.signing import LogSigner, verify_signature
from pdvault.audit.verify import VerifyResult, verify_from, verify_log
from pdvault.db import make_sessionmaker, utcnow

FULL, INCREMENTAL = "full", "incremental"


@dataclass
class VerifyRun:
    """A finished run as recorded, and the result it recorded."""

    id: int
    mode: str
    started_at: datetime
    finished_at: datetime
    from_checkpoint_id: int | None
    through_checkpoint_id: int | None
    result: VerifyResult

    @property
    def ok(self) -> bool:
        return self.result.ok


@dataclass
class _Origin:
    """Where an incremental run starts, or why it cannot."""

    checkpoint_id: int | None = None
    refusal: VerifyResult | None = None


def _statement(run: AuditVerifyRun, through_root: bytes | None) -> bytes:
    return verify_run_statement(
        run.mode,
        run.ok,
        run.from_seq,
        run.to_seq,
        run.from_checkpoint_id,
        run.through_checkpoint_id,
        through_root,
        run.events_checked,
        run.finished_at,
    )


async def _origin(session: AsyncSession, public_raw: bytes) -> _Origin:
    last = await session.scalar(
        select(AuditVerifyRun)
        .where(AuditVerifyRun.ok.is_(True))
        .order_by(AuditVerifyRun.id.desc())
        .limit(1)
    )
    if last is None or last.through_checkpoint_id is None:
        return _Origin()  # nothing verified to start from: a full run
    checkpoint = await session.get(AuditCheckpoint, last.through_checkpoint_id)
    if checkpoint is None:
        problem = f"checkpoint {last.through_checkpoint_id}, where run {last.id} ended, is gone"
        return _Origin(refusal=VerifyResult(False, 0, None, problem))
    if not verify_signature(public_raw, last.signature, _statement(last, checkpoint.root_hash)):
        problem = f"the record of run {last.id} is not validly signed"
        return _Origin(refusal=VerifyResult(False, 0, int(checkpoint.seq), problem))
    return _Origin(checkpoint_id=int(checkpoint.id))


async def run_verify(engine: AsyncEngine, signer: LogSigner, *, full: bool) -> VerifyRun:
    """Verify the log (in full, or from the last verified checkpoint) and record the run."""
    sessions = make_sessionmaker(engine)
    started = utcnow()
    origin = _Origin()
    if not full:
        async with sessions() as session:
            origin = await _origin(session, signer.public_raw)
            await session.rollback()
    if origin.refusal is not None:
        result = origin.refusal
    elif origin.checkpoint_id is not None:
        result = await verify_from(engine, signer.public_raw, origin.checkpoint_id)
    else:
        result = await verify_log(engine, signer.public_raw)
    mode = INCREMENTAL if origin.checkpoint_id is not None or origin.refusal else FULL
    through = result.checkpoint if result.ok else None
    run = AuditVerifyRun(
        started_at=started,
        finished_at=utcnow(),
        mode=mode,
        from_seq=result.from_seq,
        to_seq=result.last_seq if result.ok else result.first_invalid_seq,
        from_checkpoint_id=origin.checkpoint_id,
        through_checkpoint_id=int(through["id"]) if through else None,
        ok=result.ok,
        first_invalid_seq=result.first_invalid_seq,
        problem=result.problem,
        events_checked=result.checked,
        checkpoints_checked=result.checkpoints_checked,
        key_id=signer.key_id,
        signature=b"",
    )
    root = bytes.fromhex(str(through["root_hash"])) if through else None
    run.signature = signer.sign(_statement(run, root))
    async with sessions() as session:
        session.add(run)
        await session.commit()
        run_id = int(run.id)
    return VerifyRun(
        run_id,
        mode,
        run.started_at,
        run.finished_at,
        run.from_checkpoint_id,
        run.through_checkpoint_id,
        result,
    )


async def list_runs(
    session: AsyncSession, limit: int, before_id: int | None
) -> tuple[list[AuditVerifyRun], bool]:
    """Runs, newest first: a page, and whether more follow."""
    query = select(AuditVerifyRun).order_by(AuditVerifyRun.id.desc()).limit(limit + 1)
    if before_id is not None:
        query = query.where(AuditVerifyRun.id < before_id)
    rows = list((await session.scalars(query)).all())
    return rows[:limit], len(rows) > limit


def run_fields(run: AuditVerifyRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "mode": run.mode,
        "from_seq": run.from_seq,
        "to_seq": run.to_seq,
        "from_checkpoint_id": run.from_checkpoint_id,
        "through_checkpoint_id": run.through_checkpoint_id,
        "ok": run.ok,
        "first_invalid_seq": run.first_invalid_seq,
        "problem": run.problem,
        "events_checked": run.events_checked,
        "checkpoints_checked": run.checkpoints_checked,
        "key_id": run.key_id,
    }
