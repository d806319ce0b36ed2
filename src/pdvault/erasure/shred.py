"""Erasure by crypto-shredding (R3.1): one transaction destroys every personal carrier.

The customer's wrapped data key, the four ciphertexts and both blind indexes become NULL; what
stays is a tombstone (id, times, policy version) with no personal data. Everything sealed under
that data key (deletion-request notes) is unreadable from then on and is nulled too. Access
events, consent history and retained transaction documents (their own keys) stay.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pdvault.customers.models import Customer
from pdvault.documents.service import shred_unretained_documents
from pdvault.erasure.models import DeletionRequest
from pdvault.governance.cases import shred_customer_complaints
from pdvault.partners.models import Assignment

log = logging.getLogger("pdvault.erasure")


async def shred_customer(session: AsyncSession, customer_id: uuid.UUID, now: datetime) -> None:
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
    await session.execute(
        update(DeletionRequest)
        .where(DeletionRequest.customer_id == customer_id)
        .values(note_ct=None)
    )
    # Documents past (or without) their legal retention go now; vouchers under retention
    # stay under their own keys, holding no personal field (R7.3).
    await shred_unretained_documents(session, customer_id, now)
    # Complaints about the person keep their metadata (dates, category, outcome) for the
    # register; their words (description, contact, notes, measures) go with the person.
    await shred_customer_complaints(session, customer_id)
    # No partner keeps a job on a person who no longer exists here.
    await session.execute(
        update(Assignment)
        .where(Assignment.customer_id == customer_id, Assignment.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def settle_storage(engine: AsyncEngine) -> None:
    """After an erasure commits: SQLite folds the write-ahead log back and truncates it, so
    the previous page images (wrapped key, ciphertexts, indexes) leave the disk; deleted
    content itself is zeroed by ``secure_delete``. PostgreSQL: see docs/erasure.md."""
    if engine.dialect.name != "sqlite":
        return

    def checkpoint(sync_conn: Connection) -> None:
        # On the driver connection, outside any transaction: a checkpoint cannot run in one.
        cursor = sync_conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.fetchall()
        finally:
            cursor.close()

    try:
        async with engine.connect() as conn:
            await conn.run_sync(checkpoint)
    except Exception as exc:  # the erasure is committed; a later checkpoint folds the log
        log.warning("wal checkpoint after erasure failed: %s", type(exc).__name__)
