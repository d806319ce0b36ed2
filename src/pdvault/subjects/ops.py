"""Moving rejection reasons written before revision 0011 under their customer's key
(issue 14.10): for ``pdvault seal-free-text``.

Alembic holds no keys, so the migration could only add the sealed column; this pass seals
each clear reason under its customer's data key and clears the column. A reason about a
customer already erased has no key to go under and is dropped, as erasure would have done.
Idempotent and resumable: it only touches rows that still hold clear text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.config import Settings
from pdvault.crypto.provider import KeyProvider
from pdvault.customers import sealing
from pdvault.customers.models import Customer
from pdvault.erasure.models import DeletionRequest
from pdvault.jobs import job
from pdvault.subjects.models import AccessRequest, RequestColumns
from pdvault.subjects.workflow import reason_context

REGISTERS: tuple[tuple[type[RequestColumns], str], ...] = (
    (DeletionRequest, "deletion_request"),
    (AccessRequest, "access_request"),
)


async def seal_clear_reasons(
    session: AsyncSession,
    keys: KeyProvider,
    batch: int = 500,
    after_batch: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """Seal (or, for an erased customer, drop) every clear rejection reason; how many."""
    moved = 0
    for model, register in REGISTERS:
        while True:
            rows = (
                await session.scalars(
                    select(model)
                    .where(model.rejection_reason.is_not(None))
                    .order_by(model.id)
                    .limit(batch)
                )
            ).all()
            if not rows:
                break
            for req in rows:
                customer = await session.get(Customer, req.customer_id)
                text = req.rejection_reason or ""
                if customer is not None and customer.wrapped_dek is not None:
                    req.rejection_reason_ct = await sealing.seal_text(
                        keys, customer, reason_context(register, req.id), text
                    )
                req.rejection_reason = None
                moved += 1
            await session.flush()
            if after_batch is not None:
                await after_batch()
    return moved


async def run_seal_free_text(settings: Settings, batch: int = 500) -> int:
    async with job(settings) as j:
        moved = await seal_clear_reasons(j.session, j.keys, batch, after_batch=j.session.commit)
        await j.session.commit()
        return moved
