"""Rebuilding the customers' email blind indexes over the lower-cased address (migration 0013).

Rows written before email matching ignored case carry an index over the address as given.
The migration cannot recompute an HMAC (it has no keys), so it records a data upgrade and
``pdvault migrate`` runs this with the keys. Customers whose addresses are equal once case is
ignored cannot all hold the (unique) index: the oldest keeps it, the others are left out of the
index (not found by email search, not blocking a registration) until the operator resolves
them. Both rows stay; the report names them by id only, never by address.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.writer import ALLOWED, AuditLog, EventDraft
from pdvault.config import Settings
from pdvault.crypto.provider import KeyProvider, WrappedKey
from pdvault.customers import sealing
from pdvault.customers.models import Customer
from pdvault.db import Base
from pdvault.upgrades import mark_done

EMAIL_REINDEX = "customer.email_reindex"  # the data upgrade's name and its events' action
_CUSTOMERS = Base.metadata.tables[Customer.__tablename__]


@dataclass
class ReindexReport:
    reindexed: int = 0  # live customers whose email was read and indexed
    changed: int = 0  # of them, how many indexes were rewritten
    # (the customer keeping the index, [the customers left out of it]), oldest first
    collisions: list[tuple[uuid.UUID, list[uuid.UUID]]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """What the operator reads: counts, colliding ids, and what to do. Never an address."""
        out = [
            f"email indexes rebuilt for {self.reindexed} customers ({self.changed} changed): "
            "email matching now ignores letter case"
        ]
        if not self.collisions:
            return out
        out.append(
            f"{len(self.collisions)} email address(es) belong to more than one customer once "
            "case is ignored; the first id keeps the email index, the others are not found by "
            "email search until resolved:"
        )
        for keeper, others in self.collisions:
            out.append(f"  {keeper} keeps; {', '.join(str(o) for o in others)} left out")
        out.append(
            "resolve each: read both customers (purpose data_subject_request) and, if they are "
            "one person, erase the duplicate through a deletion request; if not, correct the "
            "email of one with PATCH /v1/customers/{id}. Re-run 'pdvault migrate --reindex-emails'"
            " to list what remains."
        )
        return out


# Per live customer: (created_at, id, the index it holds now), grouped by its new index.
_Groups = dict[bytes, list[tuple[datetime, uuid.UUID, bytes | None]]]


async def rebuild_email_indexes(
    session: AsyncSession, keys: KeyProvider, audit: AuditLog, batch: int = 1000
) -> ReindexReport:
    """Recompute every live customer's email index; the caller commits (one transaction)."""
    report = ReindexReport()
    groups = await _group_by_new_index(session, keys, report, batch)
    cleared, assigned, drafts = _settle_collisions(groups, report)
    for start in range(0, len(cleared), 500):
        chunk = cleared[start : start + 500]
        await session.execute(
            update(Customer).where(Customer.id.in_(chunk)).values(email_bidx=None)
        )
    if assigned:
        await session.execute(
            update(_CUSTOMERS)
            .where(_CUSTOMERS.c.id == bindparam("cid"))
            .values(email_bidx=bindparam("bidx")),
            assigned,
        )
    drafts.append(
        EventDraft(
            action=EMAIL_REINDEX,
            outcome=ALLOWED,
            fields=("email",),
            basis=f"reindexed:{report.reindexed}",
        )
    )
    await audit.append(session, None, *drafts)
    await mark_done(session, EMAIL_REINDEX)
    return report


async def _group_by_new_index(
    session: AsyncSession, keys: KeyProvider, report: ReindexReport, batch: int
) -> _Groups:
    """Decrypt each live email in batches of ``batch`` and compute its index over the new form."""
    groups: _Groups = {}
    after: uuid.UUID | None = None
    while True:
        query = select(
            Customer.id,
            Customer.created_at,
            Customer.kek_version,
            Customer.wrapped_dek,
            Customer.email_ct,
            Customer.email_bidx,
            Customer.version,
        ).where(
            Customer.erased_at.is_(None),
            Customer.email_ct.is_not(None),
            Customer.wrapped_dek.is_not(None),
            Customer.kek_version.is_not(None),
        )
        if after is not None:
            query = query.where(Customer.id > after)
        rows = (await session.execute(query.order_by(Customer.id).limit(batch))).all()
        if not rows:
            break
        after = rows[-1][0]
        data_keys = await keys.unwrap_data_keys(
            [(WrappedKey(int(r[2] or 0), bytes(r[3] or b"")), r[0]) for r in rows]
        )
        for row, data_key in zip(rows, data_keys, strict=True):
            email = sealing.open_stored(data_key, row[0], "email", bytes(row[4] or b""), row[6])
            new = sealing.index_of(keys, "email", email)
            groups.setdefault(new, []).append((row[1], row[0], row[5]))
        report.reindexed += len(rows)
        if len(rows) < batch:
            break
    return groups


def _settle_collisions(
    groups: _Groups, report: ReindexReport
) -> tuple[list[uuid.UUID], list[dict[str, object]], list[EventDraft]]:
    """The oldest customer of each new index keeps it; the others are left out and logged.

    Returns the rows whose index changes or goes (nulled first), the keepers' new indexes, and
    one event per customer in a collision."""
    cleared: list[uuid.UUID] = []
    assigned: list[dict[str, object]] = []
    drafts: list[EventDraft] = []
    for new, members in groups.items():
        members.sort(key=lambda m: (m[0], m[1]))
        (_, keeper, keeper_old), others = members[0], members[1:]
        if keeper_old != new:
            cleared.append(keeper)
            assigned.append({"cid": keeper, "bidx": new})
        cleared.extend(cid for _, cid, old in others if old is not None)
        if others:
            report.collisions.append((keeper, [cid for _, cid, _ in others]))
            drafts.extend(
                EventDraft(
                    action=EMAIL_REINDEX,
                    outcome=ALLOWED,
                    customer_id=cid,
                    fields=("email",),
                    basis="email_collision",
                )
                for _, cid, _ in members
            )
    report.changed = len(cleared)
    report.collisions.sort(key=lambda c: str(c[0]))
    return cleared, assigned, drafts


async def run_email_reindex(settings: Settings) -> ReindexReport:
    """``rebuild_email_indexes`` on the configured database with the configured keys, in one
    transaction (for ``pdvault migrate`` and ``pdvault init``)."""
    from pdvault.jobs import job

    async with job(settings) as j:
        report = await rebuild_email_indexes(j.session, j.keys, j.audit)
        await j.session.commit()
        return report
