"""The breach register (R7.2): recording, the authority deadline, subject notices.

Subject notices fan out into the outbox in keyset batches of customer ids, one insert per
batch, each keyed ``breach:<breach>:<customer>``: memory stays bounded whatever the number of
customers, and a re-run (after a crash, or twice by mistake) adds nothing already there.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, not_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.customers.models import Customer
from pdvault.db import new_id, utcnow
from pdvault.errors import Conflict, NotFound, Problem, Unprocessable
from pdvault.governance.breach_schemas import (
    AuthorityNotificationIn,
    BreachDetail,
    BreachIn,
    BreachOut,
    BreachPage,
)
from pdvault.governance.models import Breach, BreachCustomer
from pdvault.notifications.models import NoticeKind
from pdvault.notifications.service import (
    breach_notice_counts,
    breach_notice_prefix,
    enqueue,
    notice_row,
)
from pdvault.pagination import split_page, uuid_after
from pdvault.policy import Operation
from pdvault.runtime import Runtime

CLOCK_SKEW = timedelta(minutes=5)
_CHUNK = 1000


def dedupe_key(breach_id: uuid.UUID, customer_id: uuid.UUID) -> str:
    return f"{breach_notice_prefix(breach_id)}{customer_id}"


def is_overdue(b: Breach, now: datetime) -> bool:
    return b.authority_notified_at is None and now > b.authority_due_at


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    return and_(Breach.authority_notified_at.is_(None), Breach.authority_due_at < now)


def breach_out(b: Breach, now: datetime) -> BreachOut:
    notified = b.authority_notified_at
    return BreachOut(
        id=b.id,
        detected_at=b.detected_at,
        recorded_at=b.recorded_at,
        recorded_by=b.recorded_by,
        summary=b.summary,
        data_categories=list(b.data_categories),
        all_customers=b.all_customers,
        affected_count=b.affected_count,
        authority_due_at=b.authority_due_at,
        overdue=is_overdue(b, now),
        authority_notified_at=notified,
        authority=b.authority_name,
        authority_reference=b.authority_reference,
        authority_notified_late=None if notified is None else notified > b.authority_due_at,
        subjects_notified_at=b.subjects_notified_at,
        subject_notices=b.subject_notices,
    )


@dataclass
class FanoutStep:
    """One batch of the subject fan-out; ``last`` is where the next batch starts (None: done)."""

    queued: int = 0
    already_queued: int = 0
    skipped_erased: int = 0
    last: uuid.UUID | None = None


def _not_in_future(moment: datetime, name: str, now: datetime) -> None:
    if moment > now + CLOCK_SKEW:
        raise Unprocessable(
            f"{name} may not be in the future.",
            errors=[{"loc": ["body", name], "msg": "in the future"}],
        )


class BreachService:
    def __init__(self, runtime: Runtime, session: AsyncSession, actor: Actor) -> None:
        self.runtime, self.session, self.actor = runtime, session, actor

    async def _log(self, action: str, breach_id: uuid.UUID | None) -> None:
        await self.runtime.audit.append(
            self.session,
            self.actor,
            EventDraft(
                action=action,
                outcome=ALLOWED,
                basis=f"breach:{breach_id}" if breach_id is not None else None,
            ),
        )

    async def breach(self, action: str, breach_id: uuid.UUID) -> Breach:
        b = await self.session.get(Breach, breach_id)
        if b is None:
            raise await self._refuse(action, breach_id, "not_found", NotFound("No such breach."))
        return b

    async def _refuse(
        self, action: str, breach_id: uuid.UUID, reason: str, problem: Any
    ) -> Problem:
        return await self.runtime.audit.denied(
            self.session,
            self.actor,
            EventDraft.refusal(action, reason, basis=f"breach:{breach_id}"),
            problem=problem,
        )

    async def _named(self, breach_id: uuid.UUID) -> list[uuid.UUID]:
        rows = await self.session.scalars(
            select(BreachCustomer.customer_id)
            .where(BreachCustomer.breach_id == breach_id)
            .order_by(BreachCustomer.customer_id)
        )
        return list(rows.all())

    async def _check_customers(self, sent: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        ids = list(dict.fromkeys(sent))
        known: set[uuid.UUID] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            rows = await self.session.scalars(select(Customer.id).where(Customer.id.in_(chunk)))
            known.update(rows.all())
        missing = [i for i, cid in enumerate(sent) if cid not in known]
        if missing:
            raise Unprocessable(
                "Every customer named must exist.",
                errors=[
                    {"loc": ["body", "customer_ids", str(i)], "msg": "unknown customer"}
                    for i in missing[:100]
                ],
            )
        return ids

    async def record(self, data: BreachIn) -> BreachDetail:
        now = utcnow()
        _not_in_future(data.detected_at, "detected_at", now)
        ids = await self._check_customers(data.customer_ids) if data.customer_ids else []
        if data.all_customers:
            affected = int(
                await self.session.scalar(
                    select(func.count()).select_from(Customer).where(Customer.erased_at.is_(None))
                )
                or 0
            )
        else:
            affected = len(ids)
        hours = self.runtime.settings.breach_authority_deadline_hours
        b = Breach(
            id=new_id(),
            detected_at=data.detected_at,
            recorded_at=now,
            recorded_by=self.actor.principal_id,
            summary=data.summary,
            data_categories=list(dict.fromkeys(data.data_categories)),
            all_customers=data.all_customers,
            affected_count=affected,
            authority_due_at=data.detected_at + timedelta(hours=hours),
            subject_notices=0,
        )
        self.session.add(b)
        await self.session.flush()
        for start in range(0, len(ids), _CHUNK):
            await self.session.execute(
                insert(BreachCustomer),
                [{"breach_id": b.id, "customer_id": c} for c in ids[start : start + _CHUNK]],
            )
        await self._log(Operation.BREACH_RECORD.value, b.id)
        return self._detail(b, None if data.all_customers else sorted(ids), now)

    def _detail(
        self, b: Breach, customer_ids: list[uuid.UUID] | None, now: datetime
    ) -> BreachDetail:
        return BreachDetail(**breach_out(b, now).model_dump(), customer_ids=customer_ids)

    async def get(self, breach_id: uuid.UUID) -> BreachDetail:
        b = await self.breach(Operation.BREACH_READ.value, breach_id)
        await self._log(Operation.BREACH_READ.value, b.id)
        named = None if b.all_customers else await self._named(b.id)
        return self._detail(b, named, utcnow())

    async def list(
        self,
        limit: int,
        cursor: str | None,
        overdue: bool | None,
        *,
        awaiting_authority: bool = False,
    ) -> BreachPage:
        """A page of the register; ``awaiting_authority``: only breaches whose 72-hour
        authority deadline is still running (not notified yet; the console's what is due)."""
        now = utcnow()
        query = select(Breach).order_by(Breach.id).limit(limit + 1)
        if awaiting_authority:
            query = query.where(Breach.authority_notified_at.is_(None))
        if overdue is True:
            query = query.where(overdue_clause(now))
        elif overdue is False:
            query = query.where(not_(overdue_clause(now)))
        after = uuid_after(cursor)
        if after is not None:
            query = query.where(Breach.id > after)
        rows, next_cursor = split_page(
            (await self.session.scalars(query)).all(), limit, lambda b: b.id
        )
        await self._log(Operation.BREACH_LIST.value, None)
        return BreachPage(items=[breach_out(b, now) for b in rows], next_cursor=next_cursor)

    async def notify_authority(
        self, breach_id: uuid.UUID, data: AuthorityNotificationIn
    ) -> BreachDetail:
        action = Operation.BREACH_NOTIFY_AUTHORITY.value
        b = await self.breach(action, breach_id)
        now = utcnow()
        _not_in_future(data.notified_at, "notified_at", now)
        if data.notified_at < b.detected_at:
            raise Unprocessable(
                "notified_at may not be before detected_at.",
                errors=[{"loc": ["body", "notified_at"], "msg": "before the detection"}],
            )
        done = await self.session.execute(
            update(Breach)
            .where(Breach.id == b.id, Breach.authority_notified_at.is_(None))
            .values(
                authority_notified_at=data.notified_at,
                authority_name=data.authority,
                authority_reference=data.reference,
                authority_recorded_by=self.actor.principal_id,
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(done, "rowcount", 0) != 1:
            raise await self._refuse(
                action,
                b.id,
                "already_notified",
                Conflict(
                    "The authority notification is already recorded.", reason="already_notified"
                ),
            )
        await self.session.refresh(b)
        await self._log(action, b.id)
        named = None if b.all_customers else await self._named(b.id)
        return self._detail(b, named, now)

    # -- subject notifications: the router commits after every batch -----------------------

    async def start_fanout(self, breach_id: uuid.UUID) -> Breach:
        action = Operation.BREACH_NOTIFY_SUBJECTS.value
        b = await self.breach(action, breach_id)
        await self._log(action, b.id)
        return b

    async def fanout_batch(self, b: Breach, after: uuid.UUID | None, size: int) -> FanoutStep:
        """A notice for each of the next ``size`` affected customers after ``after``.

        Existing notices are skipped by the unique dedupe key (``ON CONFLICT DO NOTHING``),
        not looked up first: the insert always checks through the index, whereas a lookup
        planned on statistics taken before the fan-out grew the outbox can scan it whole.
        """
        step = FanoutStep()
        customer = Customer.id if b.all_customers else BreachCustomer.customer_id
        query = select(customer, Customer.erased_at)
        if b.all_customers:
            query = query.where(Customer.erased_at.is_(None))
        else:
            query = query.join(Customer, Customer.id == BreachCustomer.customer_id).where(
                BreachCustomer.breach_id == b.id
            )
        if after is not None:
            query = query.where(customer > after)
        rows = (await self.session.execute(query.order_by(customer).limit(size))).all()
        if not rows:
            return step
        data = {
            "breach_id": str(b.id),
            "detected_at": b.detected_at.isoformat().replace("+00:00", "Z"),
            "data_categories": list(b.data_categories),
        }
        kind = NoticeKind.BREACH.value
        notices = []
        for customer_id, erased_at in rows:
            if erased_at is not None:
                step.skipped_erased += 1
            else:
                notices.append(notice_row(customer_id, kind, data, dedupe_key(b.id, customer_id)))
        step.queued = await enqueue(self.session, notices)
        step.already_queued = len(notices) - step.queued
        step.last = rows[-1][0]
        return step

    async def finish_fanout(self, b: Breach) -> int:
        """Record the fan-out on the breach; how many notices it has in the outbox."""
        total, _ = await breach_notice_counts(self.session, b.id)
        await self.session.execute(
            update(Breach)
            .where(Breach.id == b.id)
            .values(subjects_notified_at=utcnow(), subject_notices=total)
            .execution_options(synchronize_session=False)
        )
        return total


async def run_fanout_batches(
    service: BreachService,
    session: AsyncSession,
    breach: Breach,
    batch: int,
    on_step: Callable[[FanoutStep], None] | None = None,
) -> tuple[FanoutStep, int]:
    """The subject fan-out after ``start_fanout``, as a unit of work of its own (the API's
    route and the console's background run both call it; it is not a service method because
    it commits): one committed transaction per batch, so no lock is held for the whole run
    and a run cut short keeps what it queued (the dedupe key makes a re-run add only the
    rest), then the breach's record of it. The totals of the run, and the notices in the
    outbox."""
    total, after = FanoutStep(), None
    while True:
        step = await service.fanout_batch(breach, after, batch)
        await session.commit()
        total.queued += step.queued
        total.already_queued += step.already_queued
        total.skipped_erased += step.skipped_erased
        if on_step is not None:
            on_step(step)
        if step.last is None:
            break
        after = step.last
    notices = await service.finish_fanout(breach)
    await session.commit()
    return total, notices
