"""The erasure ledger: which customers were erased, whether their erasure has left the
database files, and re-shredding them after a restore (docs/erasure.md).

The ledger is kept outside the customer tables, in two places a restore of those tables does
not touch: the executed deletion requests (with their ``shredding`` state) and the access
log's ``deletion.execute`` events (hash-chained: an erasure cannot be quietly dropped from
it). ``reapply`` reads both; ``erased_holding_keys`` (for ``pdvault audit verify``) reads the
log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pdvault.audit.models import AccessEvent
from pdvault.audit.writer import ALLOWED, AuditLog, EventDraft
from pdvault.auth.principal import Actor
from pdvault.customers.models import Customer
from pdvault.erasure.models import DeletionRequest, DeletionStatus, Shredding
from pdvault.erasure.shred import shred_customer

ERASE_ACTION = "deletion.execute"
# After the erasure's commit: is a copy of the wrapped key still in the files? (reason)
SHRED_ACTION = "deletion.shred"
# A customer the ledger says is erased, found holding key material again and re-shredded.
REAPPLY_ACTION = "deletion.reapply"
SHRED_COMPLETE, SHRED_PENDING = "shred_complete", "shred_pending"
EXECUTED = DeletionStatus.EXECUTED.value
_CHUNK = 500


def shred_reason(settled: bool) -> str:
    return SHRED_COMPLETE if settled else SHRED_PENDING


async def record_settlement(
    session: AsyncSession,
    audit: AuditLog,
    actor: Actor | None,
    requests: Sequence[tuple[uuid.UUID, uuid.UUID]],
    settled: bool,
) -> None:
    """Mark executed requests (request id, customer id) complete or pending, one
    ``deletion.shred`` event each saying which. The caller commits."""
    if not requests:
        return
    await _mark(session, requests, Shredding.COMPLETE if settled else Shredding.PENDING)
    await audit.append(
        session,
        actor,
        *(
            EventDraft(
                action=SHRED_ACTION,
                outcome=ALLOWED,
                customer_id=cid,
                basis=f"deletion_request:{rid}",
                reason=shred_reason(settled),
            )
            for rid, cid in requests
        ),
    )


async def _mark(
    session: AsyncSession, requests: Sequence[tuple[uuid.UUID, uuid.UUID]], state: Shredding
) -> None:
    """Set the shredding state of executed requests (request id, customer id)."""
    await session.execute(
        update(DeletionRequest)
        .where(DeletionRequest.id.in_([rid for rid, _ in requests]))
        .values(shredding=state.value)
        .execution_options(synchronize_session=False)
    )


async def pending_requests(session: AsyncSession) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Executed requests whose erasure may still be in the database files."""
    rows = await session.execute(
        select(DeletionRequest.id, DeletionRequest.customer_id)
        .where(DeletionRequest.shredding == Shredding.PENDING.value)
        .order_by(DeletionRequest.id)
    )
    return [(row[0], row[1]) for row in rows]


@dataclass
class Erased:
    """One ledger entry: when, and under which deletion request (when it is still here)."""

    at: datetime
    request_id: uuid.UUID | None = None


async def erased_since(session: AsyncSession, since: datetime) -> dict[uuid.UUID, Erased]:
    """Every customer the ledger says was erased at or after ``since``."""
    ledger: dict[uuid.UUID, Erased] = {}
    executed = await session.execute(
        select(DeletionRequest.customer_id, DeletionRequest.decided_at, DeletionRequest.id).where(
            DeletionRequest.status == EXECUTED, DeletionRequest.decided_at >= since
        )
    )
    for cid, at, rid in executed:
        ledger[cid] = Erased(at or since, rid)
    logged = await session.execute(
        select(AccessEvent.customer_id, func.min(AccessEvent.at))
        .where(
            AccessEvent.action == ERASE_ACTION,
            AccessEvent.outcome == ALLOWED,
            AccessEvent.customer_id.is_not(None),
            AccessEvent.at >= since,
        )
        .group_by(AccessEvent.customer_id)
    )
    for logged_id, at in logged:
        if logged_id is not None:
            ledger.setdefault(logged_id, Erased(at))
    return ledger


def _holds_key_material() -> ColumnElement[bool]:
    c = Customer
    return or_(
        c.erased_at.is_(None),
        c.wrapped_dek.is_not(None),
        c.full_name_ct.is_not(None),
        c.phone_ct.is_not(None),
        c.email_ct.is_not(None),
        c.address_ct.is_not(None),
        c.email_bidx.is_not(None),
        c.phone_bidx.is_not(None),
    )


async def _holding(session: AsyncSession, ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    wanted, found = list(ids), []
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found += list(
            await session.scalars(
                select(Customer.id).where(Customer.id.in_(chunk), _holds_key_material())
            )
        )
    return sorted(found)


@dataclass
class Reapplied:
    checked: int = 0
    reshredded: list[uuid.UUID] = field(default_factory=list)
    requests: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)


async def reapply(
    session: AsyncSession,
    audit: AuditLog,
    since: datetime,
    now: datetime,
    customer_ids: Iterable[uuid.UUID] = (),
) -> Reapplied:
    """Re-shred every customer the ledger (or ``customer_ids``, a list kept outside a restored
    database) says is erased, found holding key material again. Customers already shredded
    are left alone, so running it twice changes nothing. One ``deletion.reapply`` event per
    re-shredded customer; their executed requests go back to ``pending`` shredding until the
    caller settles storage. The caller commits."""
    ledger = await erased_since(session, since)
    for cid in customer_ids:
        ledger.setdefault(cid, Erased(now))
    result = Reapplied(checked=len(ledger))
    for cid in await _holding(session, ledger):
        await shred_customer(session, cid, now)
        result.reshredded.append(cid)
    if not result.reshredded:
        return result
    requests = await session.execute(
        select(DeletionRequest.id, DeletionRequest.customer_id).where(
            DeletionRequest.customer_id.in_(result.reshredded),
            DeletionRequest.status == EXECUTED,
        )
    )
    result.requests = [(row[0], row[1]) for row in requests]
    if result.requests:
        await _mark(session, result.requests, Shredding.PENDING)
    await audit.append(
        session,
        None,
        *(
            EventDraft(
                action=REAPPLY_ACTION,
                outcome=ALLOWED,
                customer_id=cid,
                basis=(
                    f"deletion_request:{ledger[cid].request_id}"
                    if ledger[cid].request_id is not None
                    else None
                ),
                reason=SHRED_PENDING,
            )
            for cid in result.reshredded
        ),
    )
    return result


async def erased_holding_keys(conn: AsyncConnection) -> list[tuple[uuid.UUID, datetime]]:
    """Customers the access log says were erased that hold key material again (a restore
    put their rows back), with the time of their first erasure, oldest first."""
    rows = await conn.execute(
        select(Customer.id, func.min(AccessEvent.at))
        .join(AccessEvent, AccessEvent.customer_id == Customer.id)
        .where(
            AccessEvent.action == ERASE_ACTION,
            AccessEvent.outcome == ALLOWED,
            _holds_key_material(),
        )
        .group_by(Customer.id)
        .order_by(func.min(AccessEvent.at))
    )
    return [(row[0], row[1]) for row in rows]
