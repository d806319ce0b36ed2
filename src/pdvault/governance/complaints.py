"""Complaints (R1.2, R6.2, R7.4): filing, the state machine, the history, the overdue list.

The free text (description, contact, each transition's note and measures) is sealed under the
complaint's own data key, bound to the complaint id and the column, so erasing the customer
shreds it (``cases.shred_customer_complaints``) while the register keeps its metadata.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, not_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.models import AccessEvent
from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.crypto.envelope import decrypt_field, encrypt_field, new_data_key
from pdvault.crypto.provider import WrappedKey
from pdvault.customers.access import AuditedAccess
from pdvault.db import new_id, utcnow
from pdvault.errors import (
    Conflict,
    NotFound,
    Problem,
    Unprocessable,
)
from pdvault.governance.complaint_schemas import (
    ComplaintIn,
    ComplaintOut,
    ComplaintPage,
    ComplaintSummary,
    TransitionIn,
    TransitionOut,
)
from pdvault.governance.models import (
    TRANSITIONS,
    UNDECIDED,
    Complaint,
    ComplaintStatus,
    ComplaintTransition,
)
from pdvault.pagination import split_page, uuid_after
from pdvault.policy import Operation, may_read_free_text
from pdvault.runtime import Runtime

DESCRIPTION, CONTACT = "description", "contact"
_UNDECIDED = [s.value for s in UNDECIDED]


def _note_field(transition_id: uuid.UUID) -> str:
    return f"transition.{transition_id.hex}.note"


def _measures_field(transition_id: uuid.UUID) -> str:
    return f"transition.{transition_id.hex}.measures"


def is_overdue(c: Complaint, now: datetime) -> bool:
    return c.status in _UNDECIDED and c.due_at < now


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    return and_(Complaint.status.in_(_UNDECIDED), Complaint.due_at < now)


def summary_of(c: Complaint, now: datetime) -> ComplaintSummary:
    return ComplaintSummary(
        id=c.id,
        customer_id=c.customer_id,
        category=c.category,
        channel=c.channel,
        status=c.status,
        received_at=c.received_at,
        due_at=c.due_at,
        overdue=is_overdue(c, now),
        decided_at=c.decided_at,
        closed_at=c.closed_at,
        rejection_ground=c.rejection_ground,
        filed_by=c.filed_by,
        shredded=c.shredded_at is not None,
    )


class ComplaintService:
    def __init__(self, runtime: Runtime, session: AsyncSession, actor: Actor) -> None:
        self.runtime, self.session, self.actor = runtime, session, actor
        self.access = AuditedAccess(runtime, session, actor)

    # -- helpers --------------------------------------------------------------------------

    async def _log(
        self,
        action: str,
        c: Complaint | None,
        fields: Sequence[str] = (),
        customer_id: uuid.UUID | None = None,
    ) -> None:
        await self.runtime.audit.append(
            self.session,
            self.actor,
            EventDraft(
                action=action,
                outcome=ALLOWED,
                customer_id=c.customer_id if c is not None else customer_id,
                fields=tuple(fields),
                basis=f"complaint:{c.id}" if c is not None else None,
            ),
        )

    async def _complaint(self, action: str, complaint_id: uuid.UUID) -> Complaint:
        c = await self.session.get(Complaint, complaint_id)
        if c is None:
            raise await self.runtime.audit.denied(
                self.session,
                self.actor,
                EventDraft.refusal(action, "not_found", basis=f"complaint:{complaint_id}"),
                problem=NotFound("No such complaint."),
            )
        return c

    async def _data_key(self, c: Complaint) -> bytes | None:
        if c.wrapped_dek is None or c.kek_version is None:
            return None  # shredded
        return await self.runtime.keys.unwrap_data_key(
            WrappedKey(c.kek_version, c.wrapped_dek), c.id
        )

    async def _history(self, complaint_id: uuid.UUID) -> list[ComplaintTransition]:
        rows = await self.session.scalars(
            select(ComplaintTransition)
            .where(ComplaintTransition.complaint_id == complaint_id)
            .order_by(ComplaintTransition.step)
        )
        return list(rows.all())

    async def _full(self, action: str, c: Complaint, reveal: bool) -> ComplaintOut:
        """The complaint with its history; the free text decrypted only when ``reveal``."""
        history = await self._history(c.id)
        key = await self._data_key(c) if reveal else None

        def opened(blob: bytes | None, field: str) -> str | None:
            if key is None or blob is None:
                return None
            return decrypt_field(key, c.id, field, blob)

        async def reveal_all() -> tuple[str | None, str | None, list[TransitionOut]]:
            steps = [
                TransitionOut(
                    step=t.step,
                    from_status=t.from_status,
                    to_status=t.to_status,
                    at=t.at,
                    by=t.by,
                    evidence_event_ids=[int(e) for e in t.evidence_event_ids or []],
                    rejection_ground=t.rejection_ground,
                    measures_recorded=t.measures_ct is not None,
                    note=opened(t.note_ct, _note_field(t.id)),
                    measures=opened(t.measures_ct, _measures_field(t.id)),
                )
                for t in history
            ]
            return opened(c.description_ct, DESCRIPTION), opened(c.contact_ct, CONTACT), steps

        description, contact, steps = await self.access.decrypted(
            action, reveal_all(), customer_id=c.customer_id, basis=f"complaint:{c.id}"
        )
        summary = summary_of(c, utcnow())
        return ComplaintOut(
            **summary.model_dump(), description=description, contact=contact, history=steps
        )

    async def for_subject(self, customer_id: uuid.UUID) -> list[ComplaintOut]:
        """The person's own complaints, their words included, for the export (which logs
        one event for the whole document)."""
        rows = await self.session.scalars(
            select(Complaint).where(Complaint.customer_id == customer_id).order_by(Complaint.id)
        )
        return [await self._full(Operation.CUSTOMER_EXPORT.value, c, True) for c in rows.all()]

    # -- operations -----------------------------------------------------------------------

    async def file(self, data: ComplaintIn) -> ComplaintOut:
        action = Operation.COMPLAINT_FILE.value
        session, actor = self.session, self.actor
        if data.customer_id is not None:
            await self.access.live_customer(action, data.customer_id)
        complaint_id, now = new_id(), utcnow()
        data_key = new_data_key()
        wrapped = await self.runtime.keys.wrap_data_key(data_key, complaint_id)
        c = Complaint(
            id=complaint_id,
            customer_id=data.customer_id,
            category=data.category,
            channel=data.channel,
            status=ComplaintStatus.RECEIVED.value,
            filed_by=actor.principal_id,
            received_at=now,
            due_at=now + timedelta(days=self.runtime.settings.complaint_deadline_days),
            transitions=0,
            kek_version=wrapped.version,
            wrapped_dek=wrapped.blob,
            description_ct=encrypt_field(data_key, complaint_id, DESCRIPTION, data.description),
            contact_ct=(
                encrypt_field(data_key, complaint_id, CONTACT, data.contact)
                if data.contact is not None
                else None
            ),
        )
        session.add(c)
        await session.flush()
        reveal = may_read_free_text(actor.role)
        await self._log(action, c, (DESCRIPTION, CONTACT) if reveal else ())
        summary = summary_of(c, now)
        return ComplaintOut(
            **summary.model_dump(),
            description=data.description if reveal else None,
            contact=data.contact if reveal else None,
            history=[],
        )

    async def get(self, complaint_id: uuid.UUID) -> ComplaintOut:
        action = Operation.COMPLAINT_READ.value
        c = await self._complaint(action, complaint_id)
        reveal = may_read_free_text(self.actor.role)
        out = await self._full(action, c, reveal)
        revealed = [f for f, v in ((DESCRIPTION, out.description), (CONTACT, out.contact)) if v]
        await self._log(action, c, revealed)
        return out

    async def list(
        self,
        limit: int,
        cursor: str | None,
        *,
        status: str | None = None,
        overdue: bool | None = None,
        customer_id: uuid.UUID | None = None,
        category: str | None = None,
        undecided: bool = False,
    ) -> ComplaintPage:
        """A page of the register; ``undecided``: only those still running towards their
        due date (received or investigating; the console's list of what is due)."""
        now = utcnow()
        query = select(Complaint).order_by(Complaint.id).limit(limit + 1)
        if status is not None:
            query = query.where(Complaint.status == status)
        if undecided:
            query = query.where(Complaint.status.in_(_UNDECIDED))
        if category is not None:
            query = query.where(Complaint.category == category)
        if customer_id is not None:
            query = query.where(Complaint.customer_id == customer_id)
        if overdue is True:
            query = query.where(overdue_clause(now))
        elif overdue is False:
            query = query.where(not_(overdue_clause(now)))
        after = uuid_after(cursor)
        if after is not None:
            query = query.where(Complaint.id > after)
        rows, next_cursor = split_page(
            (await self.session.scalars(query)).all(), limit, lambda c: c.id
        )
        await self._log(Operation.COMPLAINT_LIST.value, None, customer_id=customer_id)
        return ComplaintPage(items=[summary_of(c, now) for c in rows], next_cursor=next_cursor)

    async def transition(self, complaint_id: uuid.UUID, body: TransitionIn) -> ComplaintOut:
        action = Operation.COMPLAINT_TRANSITION.value
        c = await self._complaint(action, complaint_id)
        target = ComplaintStatus(body.to)
        if body.rejection_ground is not None and target is not ComplaintStatus.REJECTED:
            raise Unprocessable(
                "rejection_ground goes only with a move to rejected.",
                errors=[{"loc": ["body", "rejection_ground"], "msg": "only with to: rejected"}],
            )
        await self._check_evidence(body.evidence_event_ids)
        current = ComplaintStatus(c.status)
        if target not in TRANSITIONS[current]:
            raise await self._refuse_move(
                action, c, f"A {current} complaint cannot become {target}."
            )
        now, step = utcnow(), c.transitions + 1
        if not await self._move(c, current, target, body, now):
            raise await self._refuse_move(action, c, "The complaint moved meanwhile; reload it.")
        self.session.add(await self._transition_row(c, current, target, body, now, step))
        try:
            await self.session.flush()
        except IntegrityError:
            problem = await self._refuse_move(
                action, c, "The complaint moved meanwhile; reload it."
            )
            raise problem from None
        await self.session.refresh(c)
        await self._log(action, c)
        return await self._full(action, c, may_read_free_text(self.actor.role))

    async def _move(
        self,
        c: Complaint,
        current: ComplaintStatus,
        target: ComplaintStatus,
        body: TransitionIn,
        now: datetime,
    ) -> bool:
        """Compare-and-set: a concurrent move from the same state finds nothing to update."""
        values: dict[str, object] = {"status": target.value, "transitions": c.transitions + 1}
        if target in (ComplaintStatus.UPHELD, ComplaintStatus.REJECTED):
            values["decided_at"] = now
        if target is ComplaintStatus.REJECTED:
            values["rejection_ground"] = body.rejection_ground
        if target is ComplaintStatus.CLOSED:
            values["closed_at"] = now
        moved = await self.session.execute(
            update(Complaint)
            .where(
                Complaint.id == c.id,
                Complaint.status == current.value,
                Complaint.transitions == c.transitions,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return getattr(moved, "rowcount", 0) == 1

    async def _transition_row(
        self,
        c: Complaint,
        current: ComplaintStatus,
        target: ComplaintStatus,
        body: TransitionIn,
        now: datetime,
        step: int,
    ) -> ComplaintTransition:
        """The history row, its note and measures encrypted under the complaint's key."""
        key = await self._data_key(c)
        transition_id = new_id()
        return ComplaintTransition(
            id=transition_id,
            complaint_id=c.id,
            step=step,
            from_status=current.value,
            to_status=target.value,
            at=now,
            by=self.actor.principal_id,
            # A shredded complaint (its customer erased) keeps no new free text either.
            note_ct=(
                encrypt_field(key, c.id, _note_field(transition_id), body.note)
                if key is not None
                else None
            ),
            measures_ct=(
                encrypt_field(key, c.id, _measures_field(transition_id), body.measures)
                if key is not None and body.measures is not None
                else None
            ),
            evidence_event_ids=list(dict.fromkeys(body.evidence_event_ids)),
            rejection_ground=body.rejection_ground,
        )

    async def _refuse_move(self, action: str, c: Complaint, detail: str) -> Problem:
        return await self.runtime.audit.denied(
            self.session,
            self.actor,
            EventDraft.refusal(
                action, "invalid_transition", customer_id=c.customer_id, basis=f"complaint:{c.id}"
            ),
            problem=Conflict(detail, reason="invalid_transition"),
        )

    async def _check_evidence(self, seqs: Sequence[int]) -> None:
        if not seqs:
            return
        found = set(
            (
                await self.session.scalars(
                    select(AccessEvent.seq).where(AccessEvent.seq.in_(set(seqs)))
                )
            ).all()
        )
        missing = [i for i, seq in enumerate(seqs) if seq not in found]
        if missing:
            raise Unprocessable(
                "Every evidence id must be an access event's seq.",
                errors=[
                    {"loc": ["body", "evidence_event_ids", str(i)], "msg": "no such access event"}
                    for i in missing
                ],
            )
