"""The auditor's view of the log: filtered listing, export, checkpoints, access reports."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pdvault.audit.ledger import AuditCheckpoint
from pdvault.audit.models import AccessEvent
from pdvault.audit.schemas import AccessReportItem, CheckpointOut, EventOut
from pdvault.pagination import split_page
from pdvault.partners.models import Partner
from pdvault.principals.models import Principal


@dataclass(frozen=True)
class EventFilter:
    customer_id: uuid.UUID | None = None
    principal_id: uuid.UUID | None = None
    role: str | None = None
    purpose: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    token_id: uuid.UUID | None = None
    target_principal_id: uuid.UUID | None = None
    target_token_id: uuid.UUID | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        c = AccessEvent
        for column, value in (
            (c.customer_id, self.customer_id),
            (c.principal_id, self.principal_id),
            (c.role, self.role),
            (c.purpose, self.purpose),
            (c.action, self.action),
            (c.outcome, self.outcome),
            (c.token_id, self.token_id),
            (c.target_principal_id, self.target_principal_id),
            (c.target_token_id, self.target_token_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if self.since is not None:
            query = query.where(c.at >= self.since)
        if self.until is not None:
            query = query.where(c.at < self.until)
        return query


def event_out(e: AccessEvent) -> EventOut:
    return EventOut(
        seq=e.seq,
        at=e.at,
        request_id=e.request_id,
        principal_id=e.principal_id,
        role=e.role,
        action=e.action,
        customer_id=e.customer_id,
        fields=list(e.fields or []),
        purpose=e.purpose,
        basis=e.basis,
        outcome=e.outcome,
        reason=e.reason,
        token_id=e.token_id,
        target_principal_id=e.target_principal_id,
        target_token_id=e.target_token_id,
        writer_id=e.writer_id,
        writer_seq=e.writer_seq,
        hash=e.hash.hex(),
    )


async def list_events(
    session: AsyncSession, flt: EventFilter, limit: int, after_seq: int
) -> tuple[list[EventOut], str | None]:
    query = flt.apply(select(AccessEvent)).where(AccessEvent.seq > after_seq)
    fetched = (await session.scalars(query.order_by(AccessEvent.seq).limit(limit + 1))).all()
    rows, next_cursor = split_page(fetched, limit, lambda e: e.seq)
    return [event_out(e) for e in rows], next_cursor


async def event_pages(
    sessions: async_sessionmaker[AsyncSession], flt: EventFilter, page: int = 1000
) -> AsyncIterator[list[EventOut]]:
    """Every matching event, a page at a time, one short transaction per page: memory stays
    constant, locks stay short (the API's JSON Lines and the console's CSV)."""
    after = 0
    while True:
        async with sessions() as session:
            items, _ = await list_events(session, flt, page, after)
            await session.rollback()
        if not items:
            return
        yield items
        after = items[-1].seq


async def export_lines(
    sessions: async_sessionmaker[AsyncSession], flt: EventFilter, page: int = 1000
) -> AsyncIterator[bytes]:
    """JSON Lines of every matching event (``event_pages``)."""
    async for items in event_pages(sessions, flt, page):
        yield b"".join(orjson.dumps(i.model_dump(mode="json")) + b"\n" for i in items)


def checkpoint_out(cp: AuditCheckpoint) -> CheckpointOut:
    return CheckpointOut(
        id=cp.id,
        at=cp.at,
        seq=cp.seq,
        events=cp.events,
        root_hash=cp.root_hash.hex(),
        key_id=cp.key_id,
        signature=cp.signature.hex(),
        heads=list(cp.heads or []),
    )


async def list_checkpoints(
    session: AsyncSession, limit: int, after_id: int
) -> tuple[list[CheckpointOut], str | None]:
    fetched = (
        await session.scalars(
            select(AuditCheckpoint)
            .where(AuditCheckpoint.id > after_id)
            .order_by(AuditCheckpoint.id)
            .limit(limit + 1)
        )
    ).all()
    rows, next_cursor = split_page(fetched, limit, lambda c: c.id)
    return [checkpoint_out(c) for c in rows], next_cursor


async def access_report(
    session: AsyncSession, customer_id: uuid.UUID, limit: int, after_seq: int
) -> tuple[list[AccessReportItem], str | None]:
    """Who touched this customer: partners are named by their registered name."""
    query = (
        select(AccessEvent, Principal.name, Partner.name)
        .outerjoin(Principal, Principal.id == AccessEvent.principal_id)
        .outerjoin(Partner, Partner.id == Principal.partner_id)
        .where(AccessEvent.customer_id == customer_id, AccessEvent.seq > after_seq)
        .order_by(AccessEvent.seq)
        .limit(limit + 1)
    )
    rows, next_cursor = split_page((await session.execute(query)).all(), limit, lambda r: r[0].seq)
    items = [
        AccessReportItem(
            at=e.at,
            role=e.role,
            actor=partner_name if e.role == "partner" and partner_name else principal_name,
            action=e.action,
            purpose=e.purpose,
            fields=list(e.fields or []),
            outcome=e.outcome,
            reason=e.reason,
        )
        for e, principal_name, partner_name in rows
    ]
    return items, next_cursor
