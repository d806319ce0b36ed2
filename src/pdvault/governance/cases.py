"""What other capabilities ask of complaints: is a case open on this customer (the
``complaint_handling`` condition), and shredding a customer's complaints on erasure."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.db import utcnow
from pdvault.governance.models import Complaint, ComplaintTransition


async def shred_customer_complaints(session: AsyncSession, customer_id: uuid.UUID) -> int:
    """Crypto-shred every complaint about this customer: the data key and every ciphertext
    (description, contact, transition notes and measures) become NULL; the metadata stays.

    Runs inside the caller's transaction (erasure's); returns how many complaints it touched.
    """
    ids = select(Complaint.id).where(Complaint.customer_id == customer_id).scalar_subquery()
    await session.execute(
        update(ComplaintTransition)
        .where(ComplaintTransition.complaint_id.in_(ids))
        .values(note_ct=None, measures_ct=None)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(
        update(Complaint)
        .where(Complaint.customer_id == customer_id)
        .values(
            kek_version=None,
            wrapped_dek=None,
            description_ct=None,
            contact_ct=None,
            shredded_at=func.coalesce(Complaint.shredded_at, utcnow()),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
