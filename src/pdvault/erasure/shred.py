"""Erasure by crypto-shredding (R3.1): one transaction destroys every personal carrier.

The customer's wrapped data key, the four ciphertexts and both blind indexes become NULL; what
stays is a tombstone (id, times, policy version) with no personal data. Everything sealed under
that data key (deletion-request notes, rejection reasons) is unreadable from then on and is
nulled too, with any rejection reason still kept in clear from before revision 0011. The
customer's stored idempotent responses are dropped (a replay would otherwise still answer).
Access events, consent history and retained transaction documents (their own keys) stay.

After the commit, ``settle_storage`` makes sure no earlier page image is left in the database
files; until it has, the erasure is ``pending`` (docs/erasure.md).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, delete, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pdvault.customers.models import Customer
from pdvault.documents.service import shred_unretained_documents
from pdvault.erasure.models import DeletionRequest
from pdvault.governance.cases import shred_customer_complaints
from pdvault.idempotency import IdempotencyRecord
from pdvault.partners.models import Assignment
from pdvault.subjects.models import AccessRequest

log = logging.getLogger("pdvault.erasure")
# What an erased customer's partner assignments keep as their reference.
ERASED_REFERENCE = "erased"


async def shred_customer(session: AsyncSession, customer_id: uuid.UUID, now: datetime) -> None:
    """Everything that erases one person, in the caller's transaction."""
    await session.execute(
        update(Customer)
        .where(Customer.id == customer_id)
        .values(
            kek_version=None,
            wrapped_dek=None,
            full_name_ct=None,
            phone_ct=None,
            email_ct=None,
            address_ct=None,
            email_bidx=None,
            phone_bidx=None,
            erased_at=now,
            updated_at=now,
            version=Customer.version + 1,
        )
    )
    await _shred_request_texts(session, customer_id)
    # Documents past (or without) their legal retention go now; vouchers under retention
    # stay under their own keys, holding no personal field (R7.3).
    await shred_unretained_documents(session, customer_id, now)
    # Complaints about the person keep their metadata (dates, category, outcome) for the
    # register; their words (description, contact, notes, measures) go with the person.
    await shred_customer_complaints(session, customer_id)
    await _end_assignments(session, customer_id, now)
    await _forget_replays(session, customer_id)


async def _shred_request_texts(session: AsyncSession, customer_id: uuid.UUID) -> None:
    """Staff words about the person go with them: notes and rejection reasons sealed under the
    data key (unreadable from now on), and reasons written in clear before revision 0011 that
    ``pdvault seal-free-text`` has not moved yet."""
    await session.execute(
        update(DeletionRequest)
        .where(DeletionRequest.customer_id == customer_id)
        .values(note_ct=None, rejection_reason=None, rejection_reason_ct=None)
    )
    await session.execute(
        update(AccessRequest)
        .where(AccessRequest.customer_id == customer_id)
        .values(rejection_reason=None, rejection_reason_ct=None)
    )


async def _end_assignments(session: AsyncSession, customer_id: uuid.UUID, now: datetime) -> None:
    """No partner keeps a job on a person who no longer exists here, nor the job's reference
    (an order number, but typed by staff and kept in clear)."""
    await session.execute(
        update(Assignment)
        .where(Assignment.customer_id == customer_id, Assignment.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await session.execute(
        update(Assignment)
        .where(Assignment.customer_id == customer_id)
        .values(reference=ERASED_REFERENCE)
    )


async def _forget_replays(session: AsyncSession, customer_id: uuid.UUID) -> None:
    """A replay of the create (or a batch holding it) must not answer for an erased person: the
    stored response names them, and the keyed fingerprint tells whether a guessed body was
    theirs. The responses hold the id as JSON text; this runs once per erasure."""
    pattern = f'%"{customer_id}"%'
    body = IdempotencyRecord.body
    names_them = (
        body.op("LIKE", is_comparison=True)(pattern.encode())  # bytea LIKE bytea
        if session.get_bind().dialect.name == "postgresql"
        else cast(body, String).like(pattern)  # SQLite: a blob's LIKE compares it as text
    )
    await session.execute(
        delete(IdempotencyRecord).where(names_them).execution_options(synchronize_session=False)
    )


# How long one checkpoint attempt waits for readers, and how many attempts an erasure makes
# before it reports ``pending`` (a backup or a verify can hold its snapshot for minutes).
CHECKPOINT_WAIT_MS = 250
CHECKPOINT_ATTEMPTS = 3
CHECKPOINT_PAUSE_SECONDS = 0.2


async def settle_storage(
    engine: AsyncEngine,
    *,
    attempts: int = CHECKPOINT_ATTEMPTS,
    pause: float = CHECKPOINT_PAUSE_SECONDS,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """After an erasure commits: True once no earlier page image is left in the files.

    SQLite keeps the previous page images (wrapped key, ciphertexts, indexes) in the
    write-ahead log until a checkpoint folds it back and truncates it; ``secure_delete`` zeroes
    the deleted content in the main file. A reader holding an older snapshot (a backup, a
    verify) makes the checkpoint busy: it is retried, and False means the erasure stays
    ``pending`` until ``pdvault retention sweep`` settles it. PostgreSQL: no live row holds the
    key once committed (dead tuples until vacuum: docs/erasure.md), so True at once. ``sleep``
    waits out the pause between attempts (a test hands in one that returns at once).
    """
    if engine.dialect.name != "sqlite":
        return True

    def checkpoint(sync_conn: Connection) -> bool:
        # On the driver connection, outside any transaction: a checkpoint cannot run in one.
        # A short busy wait: the caller retries rather than hold a request for 10 s.
        cursor: Any = sync_conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute("PRAGMA busy_timeout")
            (usual,) = cursor.fetchone()
            cursor.execute(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
            try:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                busy, _log, _done = cursor.fetchone()
            finally:
                cursor.execute(f"PRAGMA busy_timeout={int(usual)}")
            return int(busy) == 0
        finally:
            cursor.close()

    for attempt in range(attempts):
        if attempt:
            await sleep(pause)
        try:
            async with engine.connect() as conn:
                if await conn.run_sync(checkpoint):
                    return True
        except Exception as exc:  # the erasure is committed; it stays pending
            log.warning("wal checkpoint after erasure failed: %s", type(exc).__name__)
    return False
