"""A compliance history inserted row by row (factories, not HTTP), around an injected "now":
the access events, requests, complaints and breaches whose figures the report series
(tests/governance/test_report_series.py) and the DPO's console room (tests/console/
test_compliance.py) check. Every row's expected place is written beside it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from pdvault.audit.models import AccessEvent
from pdvault.customers.models import Customer
from pdvault.erasure.models import DeletionRequest
from pdvault.governance.models import Breach, Complaint, ComplaintTransition
from pdvault.subjects.models import AccessRequest

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
# 17:00 in the shop on 30 November: the default period is 1-30 November, shop days.
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
BY = uuid.uuid4()


def utc(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


@dataclass(frozen=True)
class Event:
    at: datetime
    outcome: str
    role: str | None
    purpose: str | None = None
    reason: str | None = None


# The edges of the shop's days are the subject: 17:00 UTC is midnight in Hà Nội.
EVENTS = [
    Event(utc(10, 31, 16, 59, 59), "allowed", "employee", "order_confirmation"),  # before
    Event(utc(10, 31, 17), "allowed", "storefront", "registration"),  # 1 Nov 00:00 local
    Event(utc(11, 1, 16, 59, 59), "allowed", "employee", "order_confirmation"),  # 1 Nov 23:59
    Event(utc(11, 1, 17), "allowed", "employee", "order_confirmation"),  # 2 Nov 00:00
    *[Event(utc(11, 15, 3), "allowed", "partner", "order_fulfillment")] * 3,
    Event(utc(11, 30, 9), "allowed", "dpo", None),  # a governance act: no purpose
    Event(utc(11, 30, 17), "allowed", "employee", "marketing"),  # 1 Dec local: after
    *[Event(utc(11, 3, 2), "denied", "employee", "marketing", "consent_missing")] * 2,
    Event(utc(11, 3, 20), "denied", "storefront", "order_confirmation", "role_not_permitted"),
    Event(utc(11, 20, 1), "denied", None, None, None),  # no caller, no reason recorded
]


async def insert_events(app: Any, events: list[Event]) -> None:
    """The events as one writer's chain of their own (the hashes are not the subject)."""
    writer = uuid.uuid4()
    rows = [
        {
            "at": e.at,
            "request_id": f"req-{i}",
            "role": e.role,
            "action": "customer.read",
            "fields": [],
            "purpose": e.purpose,
            "outcome": e.outcome,
            "reason": e.reason,
            "writer_id": writer,
            "writer_seq": i,
            "hash": b"\0" * 32,
        }
        for i, e in enumerate(events, start=1)
    ]
    async with app.state.runtime.sessions() as session:
        await session.execute(insert(AccessEvent), rows)
        await session.commit()


async def insert_customer(app: Any) -> uuid.UUID:
    cid = uuid.uuid4()
    async with app.state.runtime.sessions() as session:
        await session.execute(
            insert(Customer), [{"id": cid, "version": 1, "policy_version": "2024-01"}]
        )
        await session.commit()
    return cid


# (requested, due, decided or None, status)
REQUESTS: dict[type[Any], list[tuple[datetime, datetime, datetime | None, str]]] = {
    AccessRequest: [
        (utc(11, 5), utc(11, 8), utc(11, 7), "fulfilled"),  # on time
        (utc(11, 5), utc(11, 8), utc(11, 10), "fulfilled"),  # late
        (utc(11, 6), utc(11, 9), utc(11, 9), "rejected"),  # on time (at the due moment)
        (utc(11, 20), utc(11, 23), None, "pending"),  # overdue at NOW
        (utc(11, 29), utc(12, 2), None, "pending"),  # owed, not yet due
        (utc(10, 1), utc(10, 4), utc(10, 10), "fulfilled"),  # answered before the period
    ],
    DeletionRequest: [
        (utc(11, 2), utc(11, 5), utc(11, 4), "executed"),  # on time
        (utc(11, 2), utc(11, 5), utc(11, 8), "executed"),  # late
        (utc(11, 2), utc(11, 5), utc(11, 9), "rejected"),  # late
        (utc(10, 20), utc(10, 23), None, "pending"),  # overdue since October
    ],
}


async def insert_requests(app: Any, customer: uuid.UUID) -> None:
    async with app.state.runtime.sessions() as session:
        for model, plan in REQUESTS.items():
            rows = [
                {
                    "id": uuid.uuid4(),
                    "customer_id": customer,
                    "channel": "email",
                    "status": status,
                    "requested_by": BY,
                    "requested_at": requested,
                    "due_at": due,
                    "decided_at": decided,
                    "decided_by": BY if decided else None,
                }
                for requested, due, decided, status in plan
            ]
            await session.execute(insert(model), rows)
        await session.commit()


# (received, due, answer: (to_status, at) or None, status now)
COMPLAINTS = [
    (utc(11, 1), utc(12, 1), ("upheld", utc(11, 10)), "upheld"),  # on time
    (utc(10, 1), utc(11, 5), ("rejected", utc(11, 8)), "rejected"),  # late
    (utc(10, 2), utc(11, 20), None, "investigating"),  # overdue at NOW
    (utc(11, 25), utc(12, 25), None, "received"),  # not yet due
]


async def insert_complaints(app: Any) -> None:
    async with app.state.runtime.sessions() as session:
        for received, due, answer, status in COMPLAINTS:
            cid = uuid.uuid4()
            await session.execute(
                insert(Complaint),
                [
                    {
                        "id": cid,
                        "category": "misuse",
                        "channel": "email",
                        "status": status,
                        "filed_by": BY,
                        "received_at": received,
                        "due_at": due,
                        "decided_at": answer[1] if answer else None,
                    }
                ],
            )
            if answer:
                await session.execute(
                    insert(ComplaintTransition),
                    [
                        {
                            "id": uuid.uuid4(),
                            "complaint_id": cid,
                            "step": 1,
                            "from_status": "investigating",
                            "to_status": answer[0],
                            "at": answer[1],
                            "by": BY,
                        }
                    ],
                )
        await session.commit()


# (detected, hours to the deadline, hours to the notice or None)
BREACHES = [
    (utc(11, 10), 72, 50.0),  # on time
    (utc(11, 12), 72, 100.0),  # late
    (utc(11, 25), 72, None),  # overdue at NOW: 130 h without a notice
    (utc(11, 30, 6), 72, None),  # pending: 4 h old
    (utc(10, 30), 72, 48.0),  # detected before the period
]


async def insert_breaches(app: Any) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in BREACHES]
    rows = [
        {
            "id": bid,
            "detected_at": detected,
            "recorded_by": BY,
            "summary": "Sự cố mẫu",
            "data_categories": ["email"],
            "affected_count": 1,
            "authority_due_at": detected + timedelta(hours=deadline),
            "authority_notified_at": (
                detected + timedelta(hours=notice) if notice is not None else None
            ),
        }
        for bid, (detected, deadline, notice) in zip(ids, BREACHES, strict=True)
    ]
    async with app.state.runtime.sessions() as session:
        await session.execute(insert(Breach), rows)
        await session.commit()
    return ids


async def insert_history(app: Any) -> list[uuid.UUID]:
    """Everything above; returns the breaches' ids in the order of ``BREACHES``."""
    await insert_events(app, EVENTS)
    await insert_requests(app, await insert_customer(app))
    await insert_complaints(app)
    return await insert_breaches(app)
