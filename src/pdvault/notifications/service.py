"""Putting notices into the outbox, and the storefront draining it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.db import new_id, utcnow
from pdvault.notifications.models import NoticeKind, Notification
from pdvault.notifications.schemas import NotificationOut, NotificationPage
from pdvault.pagination import split_page, uuid_after

_TABLE = cast(Table, Notification.__table__)


def notice_row(
    customer_id: uuid.UUID,
    kind: str,
    data: dict[str, Any],
    dedupe_key: str | None = None,
) -> dict[str, Any]:
    """One outbox row. ``data`` holds ids and references only, never a personal value."""
    return {
        "id": new_id(),
        "customer_id": customer_id,
        "kind": kind,
        "data": data,
        "created_at": utcnow(),
        "dedupe_key": dedupe_key,
        "delivered_at": None,
        "delivered_by": None,
    }


async def enqueue(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Insert notices; a row whose ``dedupe_key`` is already there is skipped, not an error.

    Returns how many were added, so a fan-out re-run after a crash can report what it did.
    """
    if not rows:
        return 0
    connection = await session.connection()
    stmt: Any
    if connection.dialect.name == "postgresql":
        stmt = postgresql.insert(_TABLE).on_conflict_do_nothing(index_elements=["dedupe_key"])
    else:
        stmt = sqlite.insert(_TABLE).on_conflict_do_nothing(index_elements=["dedupe_key"])
    # RETURNING yields only the rows inserted: the count is exact (duplicates within the
    # batch included) and costs no lookup of the keys beforehand.
    result = await connection.execute(stmt.returning(_TABLE.c.id), list(rows))
    return len(result.all())


async def has_pending_notice(session: AsyncSession, customer_id: uuid.UUID) -> bool:
    """The ``legal_notice`` condition: a notice for this customer not yet delivered."""
    return bool(
        await session.scalar(
            select(
                exists().where(
                    Notification.customer_id == customer_id,
                    Notification.delivered_at.is_(None),
                )
            )
        )
    )


def notification_out(n: Notification) -> NotificationOut:
    return NotificationOut(
        id=n.id,
        customer_id=n.customer_id,
        kind=n.kind,
        created_at=n.created_at,
        data=n.data,
        delivered_at=n.delivered_at,
    )


def _page_of(query: Select[Any], status: str, limit: int, cursor: str | None) -> Select[Any]:
    """An outbox query narrowed to a delivery state (pending, delivered, all) and to the ids
    after the cursor, oldest id first, one row more than the page (``split_page``)."""
    if status == "pending":
        query = query.where(Notification.delivered_at.is_(None))
    elif status == "delivered":
        query = query.where(Notification.delivered_at.is_not(None))
    after = uuid_after(cursor)
    if after is not None:
        query = query.where(Notification.id > after)
    return query.order_by(Notification.id).limit(limit + 1)


async def list_notifications(
    session: AsyncSession, status: str, limit: int, cursor: str | None
) -> NotificationPage:
    query = _page_of(select(Notification), status, limit, cursor)
    fetched = (await session.scalars(query)).all()
    rows, next_cursor = split_page(fetched, limit, lambda n: n.id)
    return NotificationPage(items=[notification_out(n) for n in rows], next_cursor=next_cursor)


async def acknowledge(
    session: AsyncSession, notification_id: uuid.UUID, by: uuid.UUID
) -> Notification | None:
    """Mark delivered (idempotent: a second ack keeps the first time). None: no such notice."""
    notice = await session.get(Notification, notification_id)
    if notice is None:
        return None
    if notice.delivered_at is None:
        now = utcnow()
        await session.execute(
            update(Notification)
            .where(Notification.id == notice.id, Notification.delivered_at.is_(None))
            .values(delivered_at=now, delivered_by=by)
        )
        await session.refresh(notice)
    return notice


# -- the breach notices as the DPO's desk follows them (console, issue 19.1) ----------------


def breach_notice_prefix(breach_id: uuid.UUID) -> str:
    """The dedupe key's start that every notice of one breach's fan-out carries."""
    return f"breach:{breach_id}:"


def _breach_notices(breach_id: uuid.UUID | None) -> Any:
    clause: Any = Notification.kind == NoticeKind.BREACH.value
    if breach_id is not None:
        clause = clause & Notification.dedupe_key.startswith(
            breach_notice_prefix(breach_id), autoescape=True
        )
    return clause


async def breach_notice_counts(session: AsyncSession, breach_id: uuid.UUID) -> tuple[int, int]:
    """How many notices of this breach are in the outbox, and how many of them the
    storefront has acknowledged as delivered."""
    total, delivered = (
        await session.execute(
            select(func.count(), func.count(Notification.delivered_at)).where(
                _breach_notices(breach_id)
            )
        )
    ).one()
    return int(total or 0), int(delivered or 0)


@dataclass(frozen=True)
class BreachNotice:
    """A breach notice as the DPO's desk lists it: ids and times, never the customer's id."""

    id: uuid.UUID
    breach_id: str | None
    created_at: datetime
    delivered_at: datetime | None


async def list_breach_notices(
    session: AsyncSession,
    breach_id: uuid.UUID | None,
    status: str,
    limit: int,
    cursor: str | None,
) -> tuple[list[BreachNotice], str | None]:
    """The breach notices in the outbox (of one breach, or of all), oldest id first, by
    delivery state as ``list_notifications`` filters it (pending, delivered, all), and the
    next page's cursor. The customer's column is not read."""
    columns = select(
        Notification.id, Notification.data, Notification.created_at, Notification.delivered_at
    )
    query = _page_of(columns.where(_breach_notices(breach_id)), status, limit, cursor)
    fetched = (await session.execute(query)).all()
    rows, next_cursor = split_page(fetched, limit, lambda r: r.id)
    notices = [
        BreachNotice(r.id, (r.data or {}).get("breach_id"), r.created_at, r.delivered_at)
        for r in rows
    ]
    return notices, next_cursor
