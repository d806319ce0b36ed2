"""Issue 14.8: the justification of each allowed ``special_case_support`` read, kept.

The reader's ``X-Justification`` is sealed under the customer's data key (so erasure shreds
it) in a row linked to the read's access event by request id, customer and action, written
in the event's transaction. The auditor and the dpo read it back; showing it reveals the
reader's free text about a customer, so each showing is itself an access event per customer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.crypto.envelope import DecryptionError
from pdvault.customers import sealing
from pdvault.customers.models import AccessJustification, Customer
from pdvault.customers.schemas import JustificationOut, JustificationPage
from pdvault.db import begin_writing, new_id, utcnow
from pdvault.observability import request_id_var
from pdvault.pagination import split_page, uuid_after
from pdvault.policy import Operation
from pdvault.runtime import Runtime


def context_of(justification_id: uuid.UUID) -> str:
    """The associated data of a sealed justification: bound to its row."""
    return f"justification:{justification_id.hex}"


async def keep(
    runtime: Runtime,
    session: AsyncSession,
    actor: Actor,
    action: str,
    customers: Sequence[Customer],
    text: str,
) -> None:
    """Store the justification once per customer read, in a writing transaction that the
    read's access event then joins (``AuditLog.commit_read`` commits both together)."""
    if not customers:
        return
    await begin_writing(session)  # the read's own transaction wrote nothing
    now, request_id = utcnow(), request_id_var.get()
    for customer in customers:
        row_id = new_id()
        session.add(
            AccessJustification(
                id=row_id,
                request_id=request_id,
                customer_id=customer.id,
                principal_id=actor.principal_id,
                action=action,
                at=now,
                text_ct=await sealing.seal_text(runtime.keys, customer, context_of(row_id), text),
            )
        )
    await session.flush()


async def _decrypt_text(
    runtime: Runtime, customer: Customer | None, row: AccessJustification
) -> str | None:
    if customer is None or customer.erased_at is not None:
        return None
    try:
        return await sealing.open_text(runtime.keys, customer, context_of(row.id), row.text_ct)
    except DecryptionError:
        return None


async def list_justifications(
    runtime: Runtime,
    session: AsyncSession,
    actor: Actor,
    customer_id: uuid.UUID | None,
    request_id: str | None,
    limit: int,
    cursor: str | None,
) -> JustificationPage:
    """Oldest first; one ``audit.justifications`` event per customer whose text is shown."""
    m = AccessJustification
    query = select(m)
    if customer_id is not None:
        query = query.where(m.customer_id == customer_id)
    if request_id is not None:
        query = query.where(m.request_id == request_id)
    after = uuid_after(cursor)
    if after is not None:
        query = query.where(m.id > after)
    fetched = (await session.scalars(query.order_by(m.id).limit(limit + 1))).all()
    rows, next_cursor = split_page(fetched, limit, lambda r: r.id)
    ids = {row.customer_id for row in rows}
    customers = {
        c.id: c for c in (await session.scalars(select(Customer).where(Customer.id.in_(ids))))
    }
    items: list[JustificationOut] = []
    shown: dict[uuid.UUID, None] = {}
    for row in rows:
        text = await _decrypt_text(runtime, customers.get(row.customer_id), row)
        if text is not None:
            shown[row.customer_id] = None
        items.append(
            JustificationOut(
                id=row.id,
                request_id=row.request_id,
                customer_id=row.customer_id,
                principal_id=row.principal_id,
                action=row.action,
                at=row.at,
                justification=text,
            )
        )
    action = Operation.AUDIT_JUSTIFICATIONS.value
    drafts = [
        EventDraft(action=action, outcome=ALLOWED, customer_id=c, basis="justification_text")
        for c in shown
    ] or [EventDraft(action=action, outcome=ALLOWED)]
    await runtime.audit.append(session, actor, *drafts)
    return JustificationPage(items=items, next_cursor=next_cursor)
