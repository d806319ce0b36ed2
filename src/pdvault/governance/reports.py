"""The compliance report: GROUP BY queries over the log and the registers, never a scan of
rows in Python. Windows are ``[since, until)``; overdue and pending are judged at ``as_of``
(the earlier of ``until`` and now), from the recorded times, so a past window reads the same
whenever it is asked for."""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.models import AccessEvent
from pdvault.db import utcnow
from pdvault.erasure.models import DeletionRequest, DeletionStatus
from pdvault.governance.models import Breach, Complaint, ComplaintStatus, ComplaintTransition
from pdvault.governance.report_schemas import (
    AccessCount,
    BreachFigures,
    ComplaintFigures,
    ComplianceReport,
    DeletionFigures,
    DenialCount,
    JudicialFigures,
)
from pdvault.judicial.models import JudicialRequest
from pdvault.subjects.models import RequestColumns

JUDICIAL_BASIS = "judicial_request:"
ALLOWED, DENIED = "allowed", "denied"


def _late(done: Any, due: Any) -> ColumnElement[str]:
    return case((done > due, "late"), else_="on_time")


def _open_past_due(start: Any, due: Any, done: Any, as_of: datetime) -> ColumnElement[bool]:
    """Started before ``as_of``, due before it, and not done by then."""
    return and_(start < as_of, due < as_of, or_(done.is_(None), done > as_of))


async def _pairs(session: AsyncSession, query: Any) -> dict[str, int]:
    """A two-column GROUP BY as a dict (key -> count)."""
    return {key: int(n) for key, n in (await session.execute(query)).all()}


async def _count(session: AsyncSession, *where: ColumnElement[bool], of: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(of).where(*where)) or 0)


def events_in(outcome: str, since: datetime, until: datetime) -> tuple[ColumnElement[bool], ...]:
    """The log's events of one outcome in ``[since, until)``: what "accesses" (allowed) and
    "denials" (denied) count, here and in the console's series."""
    e = AccessEvent
    return (e.outcome == outcome, e.at >= since, e.at < until)


async def _accesses(session: AsyncSession, since: datetime, until: datetime) -> list[AccessCount]:
    e = AccessEvent
    rows = await session.execute(
        select(e.role, e.purpose, func.count())
        .where(*events_in(ALLOWED, since, until))
        .group_by(e.role, e.purpose)
        .order_by(e.role, e.purpose)
    )
    return [AccessCount(role=r, purpose=p, count=n) for r, p, n in rows]


async def _denials(session: AsyncSession, since: datetime, until: datetime) -> list[DenialCount]:
    e = AccessEvent
    rows = await session.execute(
        select(e.reason, func.count())
        .where(*events_in(DENIED, since, until))
        .group_by(e.reason)
        .order_by(e.reason)
    )
    return [DenialCount(reason=r, count=n) for r, n in rows]


async def decided_by_lateness(
    session: AsyncSession, model: type[RequestColumns], since: datetime, until: datetime
) -> dict[str, int]:
    """Data-subject requests (deletion or access) decided in the window, counted under
    ``<status>_<on_time|late>`` and under ``on_time`` and ``late`` alone."""
    lateness = _late(model.decided_at, model.due_at)
    rows = await session.execute(
        select(model.status, lateness, func.count())
        .where(model.decided_at >= since, model.decided_at < until)
        .group_by(model.status, lateness)
    )
    decided: dict[str, int] = defaultdict(int)
    for status, late, n in rows:
        decided[f"{status}_{late}"] += n
        decided[late] += n
    return decided


async def requests_received(
    session: AsyncSession, model: type[RequestColumns], since: datetime, until: datetime
) -> int:
    """Data-subject requests (deletion or access) filed in the window."""
    m = model
    return await _count(session, m.requested_at >= since, m.requested_at < until, of=m)


async def requests_overdue(
    session: AsyncSession, model: type[RequestColumns], as_of: datetime
) -> int:
    """Data-subject requests undecided and past due at ``as_of``."""
    m = model
    return await _count(
        session, _open_past_due(m.requested_at, m.due_at, m.decided_at, as_of), of=m
    )


async def _deletions(
    session: AsyncSession, since: datetime, until: datetime, as_of: datetime
) -> DeletionFigures:
    d = DeletionRequest
    received = await requests_received(session, d, since, until)
    decided = await decided_by_lateness(session, d, since, until)
    executed, rejected = DeletionStatus.EXECUTED.value, DeletionStatus.REJECTED.value
    return DeletionFigures(
        received=received,
        executed_on_time=decided[f"{executed}_on_time"],
        executed_late=decided[f"{executed}_late"],
        rejected_on_time=decided[f"{rejected}_on_time"],
        rejected_late=decided[f"{rejected}_late"],
        on_time=decided["on_time"],
        late=decided["late"],
        overdue=await requests_overdue(session, d, as_of),
    )


async def _complaints(
    session: AsyncSession, since: datetime, until: datetime, as_of: datetime
) -> ComplaintFigures:
    c, t = Complaint, ComplaintTransition
    window = (c.received_at >= since, c.received_at < until)
    by_status = await _pairs(
        session, select(c.status, func.count()).where(*window).group_by(c.status)
    )
    by_category = await _pairs(
        session, select(c.category, func.count()).where(*window).group_by(c.category)
    )
    lateness = _late(t.at, c.due_at)
    ground = func.coalesce(t.rejection_ground, "none")
    answers = await session.execute(
        select(t.to_status, lateness, ground, func.count())
        .join(c, c.id == t.complaint_id)
        .where(
            t.to_status.in_([ComplaintStatus.UPHELD.value, ComplaintStatus.REJECTED.value]),
            t.at >= since,
            t.at < until,
        )
        .group_by(t.to_status, lateness, ground)
    )
    answered: dict[str, int] = defaultdict(int)
    grounds: dict[str, int] = defaultdict(int)
    for to_status, late, why, n in answers:
        answered[f"{to_status}_{late}"] += n
        answered[late] += n
        if to_status == ComplaintStatus.REJECTED.value:
            grounds[why] += n
    overdue = await _count(
        session, _open_past_due(c.received_at, c.due_at, c.decided_at, as_of), of=c
    )
    return ComplaintFigures(
        received=sum(by_status.values()),
        by_status=dict(sorted(by_status.items())),
        by_category=dict(sorted(by_category.items())),
        upheld_on_time=answered["upheld_on_time"],
        upheld_late=answered["upheld_late"],
        rejected_on_time=answered["rejected_on_time"],
        rejected_late=answered["rejected_late"],
        rejected_by_ground=dict(sorted(grounds.items())),
        answered_on_time=answered["on_time"],
        answered_late=answered["late"],
        overdue=overdue,
    )


def breaches_detected_in(since: datetime, until: datetime) -> tuple[ColumnElement[bool], ...]:
    return (Breach.detected_at >= since, Breach.detected_at < until)


def authority_notice_state(as_of: datetime) -> ColumnElement[str]:
    """A breach's notice to the authority as it stood at ``as_of``: ``on_time``, ``late``,
    ``overdue`` (not notified, past the deadline) or ``pending``."""
    b = Breach
    notified = and_(b.authority_notified_at.is_not(None), b.authority_notified_at <= as_of)
    return case(
        (and_(notified, b.authority_notified_at <= b.authority_due_at), "on_time"),
        (notified, "late"),
        (b.authority_due_at < as_of, "overdue"),
        else_="pending",
    )


async def _breaches(
    session: AsyncSession, since: datetime, until: datetime, as_of: datetime
) -> BreachFigures:
    b = Breach
    state = authority_notice_state(as_of)
    window = breaches_detected_in(since, until)
    counted = await _pairs(session, select(state, func.count()).where(*window).group_by(state))
    states: dict[str, int] = defaultdict(int, counted)
    totals = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(b.affected_count), 0),
                func.count(b.subjects_notified_at).filter(b.subjects_notified_at <= as_of),
            ).where(*window)
        )
    ).one()
    return BreachFigures(
        detected=int(totals[0]),
        affected_customers=int(totals[1]),
        authority_on_time=states["on_time"],
        authority_late=states["late"],
        authority_overdue=states["overdue"],
        authority_pending=states["pending"],
        subjects_notified=int(totals[2] or 0),
    )


async def _judicial(
    session: AsyncSession, since: datetime, until: datetime
) -> list[JudicialFigures]:
    """Disclosures counted per request in SQL; the requests' authority types joined after
    (the basis holds the id as text, spelled differently by each engine's uuid type)."""
    e = AccessEvent
    rows = await session.execute(
        select(e.basis, func.count())
        .where(
            e.action == "judicial.disclose",
            e.outcome == "allowed",
            e.basis.startswith(JUDICIAL_BASIS),
            e.at >= since,
            e.at < until,
        )
        .group_by(e.basis)
    )
    per_request: dict[uuid.UUID, int] = {}
    for basis, n in rows:
        try:
            per_request[uuid.UUID((basis or "").removeprefix(JUDICIAL_BASIS))] = n
        except ValueError:
            continue
    types: dict[uuid.UUID, str] = {}
    ids = list(per_request)
    for start in range(0, len(ids), 1000):
        found = await session.execute(
            select(JudicialRequest.id, JudicialRequest.authority_type).where(
                JudicialRequest.id.in_(ids[start : start + 1000])
            )
        )
        types.update((rid, kind) for rid, kind in found.all())
    out: dict[str, JudicialFigures] = {}
    for rid, n in per_request.items():
        kind = types.get(rid, "unknown")
        fig = out.setdefault(kind, JudicialFigures(authority_type=kind, requests=0, disclosures=0))
        fig.requests += 1
        fig.disclosures += n
    return [out[k] for k in sorted(out)]


def as_of(until: datetime, now: datetime) -> datetime:
    """The moment overdue and pending figures are judged at: the window's end, or now."""
    return min(until, now)


async def compliance_report(
    session: AsyncSession, since: datetime, until: datetime, now: datetime | None = None
) -> ComplianceReport:
    """The figures over ``[since, until)``; ``now`` (the clock by default) is injectable."""
    now = utcnow() if now is None else now
    at = as_of(until, now)
    return ComplianceReport(
        since=since,
        until=until,
        as_of=at,
        generated_at=now,
        accesses=await _accesses(session, since, until),
        denials=await _denials(session, since, until),
        deletion_requests=await _deletions(session, since, until, at),
        complaints=await _complaints(session, since, until, at),
        breaches=await _breaches(session, since, until, at),
        judicial_disclosures=await _judicial(session, since, until),
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def report_csv(report: ComplianceReport) -> str:
    """A flat ``section,key,value`` table: nested keys joined with ``.``, a role and purpose
    with ``/`` (``-`` for none)."""
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(["section", "key", "value"])
    for key in ("since", "until", "as_of", "generated_at"):
        out.writerow(["report", key, _iso(getattr(report, key))])
    for a in report.accesses:
        out.writerow(["accesses", f"{a.role or '-'}/{a.purpose or '-'}", a.count])
    for d in report.denials:
        out.writerow(["denials", d.reason or "-", d.count])
    for section in ("deletion_requests", "complaints", "breaches"):
        for key, value in getattr(report, section).model_dump().items():
            if isinstance(value, dict):
                for sub, n in value.items():
                    out.writerow([section, f"{key}.{sub}", n])
            else:
                out.writerow([section, key, value])
    for j in report.judicial_disclosures:
        out.writerow(["judicial_disclosures", f"{j.authority_type}.requests", j.requests])
        out.writerow(["judicial_disclosures", f"{j.authority_type}.disclosures", j.disclosures])
    return buffer.getvalue()
