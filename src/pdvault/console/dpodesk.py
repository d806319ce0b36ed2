"""The DPO's desk (issue 19.1): what is due, gathered from the API's own services, and time
left as a person reads it.

``due_view`` asks each register's service for what is still open (pending deletion and access
requests, complaints received or under investigation, breaches whose authority deadline still
runs), each a list call the API would make and log, for the registers the policy lets the
role list. Items are sorted overdue first, then by deadline; counts are per kind.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.auth.principal import Actor
from pdvault.console.i18n import N_, translations
from pdvault.console.web import PREFIX, TEXT_MAX
from pdvault.db import utcnow
from pdvault.erasure.service import DeletionService
from pdvault.governance.breaches import BreachService
from pdvault.governance.complaints import ComplaintService
from pdvault.governance.models import TRANSITIONS, ComplaintStatus
from pdvault.policy import Operation, may_call
from pdvault.runtime import Runtime
from pdvault.subjects.access import AccessRequestService
from pdvault.subjects.models import PENDING

# At most this many open items of each kind are gathered (oldest first: the earliest due,
# since each kind's deadline is a fixed time after filing); past it the page says so and
# links to the kind's own list.
DUE_MAX = 200

KINDS: tuple[tuple[str, str, Operation], ...] = (
    ("deletion", N_("Deletion requests"), Operation.DELETION_LIST),
    ("access", N_("Access requests"), Operation.ACCESS_REQUEST_LIST),
    ("complaint", N_("Complaints"), Operation.COMPLAINT_LIST),
    ("breach", N_("Breaches: authority notice"), Operation.BREACH_LIST),
)
KIND_ITEM = {
    "deletion": N_("Deletion request"),
    "access": N_("Access request"),
    "complaint": N_("Complaint"),
    "breach": N_("Breach: notify the authority"),
}
KIND_LIST = {
    "deletion": f"{PREFIX}/deletion-requests?status=pending",
    "access": f"{PREFIX}/access-requests?status=pending",
    "complaint": f"{PREFIX}/complaints",
    "breach": None,
}

REJECTION_GROUNDS = {
    "inaccurate_registration_data": N_("The customer's registration data was inaccurate"),
    "unfounded": N_("Unfounded"),
    "outside_policy": N_("Outside the policy"),
    "other": N_("Other"),
}
DONE = {
    "executed": N_("The deletion request was approved: the customer is erased."),
    "rejected": N_("The request was rejected; the reason is recorded."),
    "fulfilled": N_("The access request is marked fulfilled."),
    "moved": N_("The complaint moved to its new state."),
}
# The console's text fields hold up to TEXT_MAX characters; the API allows 5,000.
NOTE_MAX = TEXT_MAX

LEFT = N_("%(span)s left")
LATE = N_("overdue by %(span)s")
LESS_THAN_A_MINUTE = N_("less than a minute")
_UNITS = {
    "day": (N_("1 day"), N_("%(n)s days")),
    "hour": (N_("1 hour"), N_("%(n)s hours")),
    "minute": (N_("1 minute"), N_("%(n)s minutes")),
}


def _unit(gettext: object, unit: str, n: int) -> str:
    one, many = _UNITS[unit]
    text: str = gettext(one) if n == 1 else gettext(many) % {"n": n}  # type: ignore[operator]
    return text


def span_text(delta: timedelta, language: str) -> str:
    """A length of time as a person reads it: days and hours from a day up, hours and
    minutes below ("2 ngày 3 giờ", "5 giờ", "40 phút")."""
    gettext = translations(language).gettext
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        parts = [_unit(gettext, "day", days)] + ([_unit(gettext, "hour", hours)] if hours else [])
    elif hours:
        parts = [_unit(gettext, "hour", hours)] + ([_unit(gettext, "minute", mins)] if mins else [])
    elif mins:
        parts = [_unit(gettext, "minute", mins)]
    else:
        parts = [gettext(LESS_THAN_A_MINUTE)]
    return " ".join(parts)


def time_left(due_at: datetime, now: datetime, language: str) -> str:
    """ "còn 2 ngày 3 giờ" before the deadline, "quá hạn 5 giờ" after it."""
    gettext = translations(language).gettext
    span = span_text(due_at - now, language)
    return gettext(LATE if due_at < now else LEFT) % {"span": span}


@dataclass(frozen=True)
class DueItem:
    kind: str
    id: uuid.UUID
    link: str
    due_at: datetime
    overdue: bool
    status: str
    customer_id: uuid.UUID | None


@dataclass
class KindCount:
    kind: str
    label: str
    open: int = 0
    overdue: int = 0
    more: bool = False
    link: str | None = None


@dataclass
class DueView:
    items: list[DueItem] = field(default_factory=list)
    counts: list[KindCount] = field(default_factory=list)
    now: datetime = field(default_factory=utcnow)

    @property
    def overdue(self) -> int:
        return sum(c.overdue for c in self.counts)

    @property
    def open(self) -> int:
        return sum(c.open for c in self.counts)


async def due_view(runtime: Runtime, session: AsyncSession, actor: Actor) -> DueView:
    """What is open and due, from each register the role may list (one logged list call
    each, as the API's list would log it). The caller commits."""
    view = DueView(now=utcnow())
    now = view.now
    for kind, label, operation in KINDS:
        if not may_call(actor.role, operation):
            continue
        items, more = await _open_items(runtime, session, actor, kind, now)
        overdue = sum(i.overdue for i in items)
        view.counts.append(KindCount(kind, label, len(items), overdue, more, KIND_LIST[kind]))
        view.items.extend(items)
    view.items.sort(key=lambda i: (not i.overdue, i.due_at))
    return view


class _OpenRow(Protocol):
    """A deletion or access request or a complaint as its service lists it."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def due_at(self) -> datetime: ...
    @property
    def overdue(self) -> bool: ...
    @property
    def status(self) -> str: ...
    @property
    def customer_id(self) -> uuid.UUID | None: ...


def _rows(kind: str, path: str, rows: Sequence[_OpenRow]) -> list[DueItem]:
    """Listed rows as due items, each linked to its page under ``path``."""
    return [
        DueItem(kind, r.id, f"{PREFIX}/{path}/{r.id}", r.due_at, r.overdue, r.status, r.customer_id)
        for r in rows
    ]


async def _open_items(
    runtime: Runtime, session: AsyncSession, actor: Actor, kind: str, now: datetime
) -> tuple[list[DueItem], bool]:
    if kind == "deletion":
        d = await DeletionService(runtime, session, actor).list(PENDING, None, DUE_MAX, None)
        return _rows(kind, "deletion-requests", d.items), d.next_cursor is not None
    if kind == "access":
        a = await AccessRequestService(runtime, session, actor).list(PENDING, None, DUE_MAX, None)
        return _rows(kind, "access-requests", a.items), a.next_cursor is not None
    if kind == "complaint":
        c = await ComplaintService(runtime, session, actor).list(DUE_MAX, None, undecided=True)
        return _rows(kind, "complaints", c.items), c.next_cursor is not None
    b = await BreachService(runtime, session, actor).list(
        DUE_MAX, None, None, awaiting_authority=True
    )
    return [
        DueItem(
            kind,
            r.id,
            f"{PREFIX}/breaches/{r.id}",
            r.authority_due_at,
            r.authority_due_at < now,
            "awaiting_authority",
            None,
        )
        for r in b.items
    ], b.next_cursor is not None


async def due_summary(runtime: Runtime, session: AsyncSession, actor: Actor) -> DueView | None:
    """The start page's summary for a role that decides deletion requests (the dpo): the
    same gathering as the due page, its list calls logged. None for other roles."""
    if not may_call(actor.role, Operation.DELETION_DECIDE):
        return None
    view = await due_view(runtime, session, actor)
    await session.commit()
    return view


def next_states(status: str) -> list[str]:
    """The states the state machine allows from ``status`` (governance/models.TRANSITIONS),
    in the machine's own order."""
    allowed = TRANSITIONS[ComplaintStatus(status)]
    return [s.value for s in ComplaintStatus if s in allowed]


def transition_context(actor: Actor, status: str) -> dict[str, Any]:
    """What the complaint page needs for its transition form (empty for a role that may not
    move complaints)."""
    if not may_call(actor.role, Operation.COMPLAINT_TRANSITION):
        return {"next_states": []}
    return {
        "next_states": next_states(status),
        "grounds": REJECTION_GROUNDS,
        "note_max": NOTE_MAX,
        "move": {},
        "move_errors": {},
    }
