"""The log's operations outside a request: for the command line."""

from __future__ import annotations

from typing import Any

from pdvault.audit.checkpoints import create_checkpoint
from pdvault.audit.runs import run_verify as verify_run
from pdvault.audit.signing import LogSigner
from pdvault.config import Settings
from pdvault.db import make_engine, make_sessionmaker


async def _signer(settings: Settings) -> LogSigner:
    from pdvault.crypto.factory import open_key_provider

    keys = await open_key_provider(settings)
    try:
        return LogSigner(keys.signing_seed())
    finally:
        await keys.close()


async def run_verify(settings: Settings, *, full: bool = True) -> dict[str, Any]:
    from pdvault.erasure.ledger import erased_holding_keys

    signer = await _signer(settings)
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        run = await verify_run(engine, signer, full=full)
        result = run.result
        # Not a break in the log, a warning: a restore brought erased customers back.
        async with engine.connect() as conn:
            erased = await erased_holding_keys(conn)
            await conn.rollback()
    finally:
        await engine.dispose()
    return {
        "run_id": run.id,
        "mode": run.mode,
        "from_checkpoint_id": run.from_checkpoint_id,
        "from_seq": result.from_seq,
        "to_seq": result.last_seq,
        "ok": result.ok,
        "checked": result.checked,
        "first_invalid_seq": result.first_invalid_seq,
        "problem": result.problem,
        "checkpoint": result.checkpoint,
        "erased_with_keys": [
            {"customer_id": str(cid), "erased_at": at.isoformat()} for cid, at in erased
        ],
    }


async def run_checkpoint(settings: Settings) -> dict[str, Any] | None:
    signer = await _signer(settings)
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            checkpoint = await create_checkpoint(session, signer)
            await session.commit()
            if checkpoint is None:
                return None
            return {"id": checkpoint.id, "seq": checkpoint.seq, "events": checkpoint.events}
    finally:
        await engine.dispose()
