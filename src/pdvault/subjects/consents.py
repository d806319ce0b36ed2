"""Consent (R7.1): an append-only history per customer; the latest entry per kind rules."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.customers.models import Consent
from pdvault.db import new_id, utcnow
from pdvault.subjects.schemas import ConsentIn, ConsentRecord, ConsentsOut, ConsentState


def _record(c: Consent) -> ConsentRecord:
    return ConsentRecord(
        id=c.id,
        customer_id=c.customer_id,
        kind=c.kind,
        granted=c.granted,
        source=c.source,
        policy_version=c.policy_version,
        recorded_at=c.recorded_at,
        recorded_by=c.recorded_by,
    )


async def consent_history(session: AsyncSession, customer_id: uuid.UUID) -> ConsentsOut:
    rows = (
        await session.scalars(
            select(Consent)
            .where(Consent.customer_id == customer_id)
            .order_by(Consent.recorded_at, Consent.id)
        )
    ).all()
    state = {"processing": False, "marketing": False}
    for row in rows:
        state[row.kind] = row.granted
    return ConsentsOut(
        customer_id=customer_id,
        current=ConsentState(**state),
        history=[_record(r) for r in rows],
    )


async def record_consent(
    session: AsyncSession, customer_id: uuid.UUID, data: ConsentIn, by: uuid.UUID
) -> tuple[ConsentRecord, ConsentState]:
    """Append one entry. The time is the server's: a consent cannot be back-dated."""
    row = Consent(
        id=new_id(),
        customer_id=customer_id,
        kind=data.kind,
        granted=data.granted,
        source=data.source,
        policy_version=data.policy_version,
        recorded_at=utcnow(),
        recorded_by=by,
    )
    session.add(row)
    await session.flush()
    return _record(row), (await consent_history(session, customer_id)).current
