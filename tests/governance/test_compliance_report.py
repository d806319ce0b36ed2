"""The compliance report against a history built by hand: every figure is known in advance
(the access figures are also recounted from the log), in JSON and CSV, for the present window
and for a past one, which must read as it did then."""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert, update

from pdvault.erasure.models import DeletionRequest
from pdvault.governance.models import ComplaintTransition
from tests.conftest import Issued, TokenFactory, access_events
from tests.governance.conftest import (
    BREACHES,
    ago,
    governance_events,
    iso,
    moved,
    set_complaint,
)
from tests.helpers import assert_problem
from tests.judicial.conftest import request_body

REPORT = "/v1/reports/compliance"


async def _deletion_requests(app: Any, customers: list[str], by: str) -> None:
    """Rows straight into the table (its API is built elsewhere): (requested, due, decided,
    status) in days before now."""
    plan = [
        (10, 7, 8, "executed"),  # on time
        (10, 7, 6, "executed"),  # late
        (9, 6, 7, "rejected"),  # on time
        (5, 1, None, "pending"),  # overdue now
        (1, -2, None, "pending"),  # not yet due
        (40, 37, 35, "executed"),  # the past window: late
        (40, 37, None, "pending"),  # overdue since day 37
    ]
    rows = [
        {
            "id": uuid.uuid4(),
            "customer_id": uuid.UUID(customers[i % len(customers)]),
            "channel": "storefront",
            "status": status,
            "requested_by": uuid.UUID(by),
            "requested_at": ago(days=req),
            "due_at": ago(days=due),
            "decided_at": ago(days=dec) if dec is not None else None,
            "decided_by": uuid.UUID(by) if dec is not None else None,
        }
        for i, (req, due, dec, status) in enumerate(plan)
    ]
    async with app.state.runtime.sessions() as session:
        await session.execute(insert(DeletionRequest), rows)
        await session.commit()


async def _complaints(app: Any, client: httpx.AsyncClient, dpo: Issued, cid: str) -> None:
    async def file(category: str) -> str:
        body = {"customer_id": cid, "category": category, "channel": "email", "description": "x"}
        r = await client.post("/v1/complaints", json=body, headers=dpo.headers)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    upheld = await file("misuse")
    await moved(client, dpo, upheld, "investigating", "upheld", "closed")
    late = await file("data_accuracy")
    await set_complaint(app, late, due_at=ago(days=1))
    await moved(client, dpo, late, "investigating")
    r = await client.post(
        f"/v1/complaints/{late}/transitions",
        json={"to": "rejected", "note": "x", "rejection_ground": "inaccurate_registration_data"},
        headers=dpo.headers,
    )
    assert r.status_code == 200, r.text
    overdue = await file("security_report")
    await set_complaint(app, overdue, due_at=ago(hours=1))
    await file("misuse")  # received, not yet due
    # One answered long ago, outside the present window: received and rejected 40 days back.
    old = await file("other")
    await moved(client, dpo, old, "investigating", "rejected")
    await set_complaint(
        app, old, received_at=ago(days=40), due_at=ago(days=10), decided_at=ago(days=39)
    )
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(ComplaintTransition)
            .where(ComplaintTransition.complaint_id == uuid.UUID(old))
            .values(at=ago(days=39))
        )
        await session.commit()


async def _breaches(app: Any, client: httpx.AsyncClient, dpo: Issued, cid: str) -> None:
    async def record(hours_ago: float, **over: Any) -> str:
        body = {
            "detected_at": iso(ago(hours=hours_ago)),
            "summary": "Sự cố mẫu",
            "data_categories": ["email"],
            **({"customer_ids": [cid]} if "all_customers" not in over else {}),
            **over,
        }
        r = await client.post(BREACHES, json=body, headers=dpo.headers)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def notify(breach_id: str, hours_ago: float) -> None:
        r = await client.post(
            f"{BREACHES}/{breach_id}/authority-notification",
            json={
                "notified_at": iso(ago(hours=hours_ago)),
                "authority": "Cục Mẫu",
                "reference": "R",
            },
            headers=dpo.headers,
        )
        assert r.status_code == 200, r.text

    on_time = await record(100)
    await notify(on_time, 50)
    r = await client.post(f"{BREACHES}/{on_time}/subject-notifications", headers=dpo.headers)
    assert r.status_code == 200, r.text
    late = await record(100)
    await notify(late, 1)
    await record(80)  # overdue
    await record(1, all_customers=True)  # pending: 3 live customers
    await record(24 * 40)  # the past window: never notified, overdue


async def _judicial(
    client: httpx.AsyncClient, legal: Issued, dpo: Issued, customers: list[str]
) -> None:
    for authority, named, only in (
        ("court", customers[:2], None),
        ("police_investigation", customers[:3], customers[2]),
    ):
        r = await client.post(
            "/v1/judicial-requests",
            json=request_body(named, authority_type=authority),
            headers=legal.headers,
        )
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        r = await client.post(f"/v1/judicial-requests/{rid}/approve", headers=dpo.headers)
        assert r.status_code == 200, r.text
        params = {"customer_id": only} if only else {}
        r = await client.get(
            f"/v1/judicial-requests/{rid}/disclosure", params=params, headers=legal.headers
        )
        assert r.status_code == 200, r.text


async def build_history(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory, make_customer: Any
) -> dict[str, Issued]:
    dpo, legal = await issue("dpo", "report-dpo"), await issue("legal", "report-legal")
    staff = await issue("employee", "report-employee")
    customers = [await make_customer() for _ in range(3)]
    for _ in range(2):
        r = await client.get(
            f"/v1/customers/{customers[0]}",
            params={"purpose": "order_confirmation"},
            headers=staff.headers,
        )
        assert r.status_code == 200
    r = await client.get(
        f"/v1/customers/{customers[0]}", params={"purpose": "marketing"}, headers=staff.headers
    )
    assert r.status_code == 403  # consent_missing
    await _deletion_requests(app, customers, dpo.principal_id)
    await _complaints(app, client, dpo, customers[0])
    await _breaches(app, client, dpo, customers[1])
    await _judicial(client, legal, dpo, customers)
    return {"dpo": dpo, "staff": staff}


async def test_the_report_matches_the_history_it_covers(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory, make_customer: Any
) -> None:
    await build_history(app, client, issue, make_customer)
    auditor = await issue("auditor", "report-auditor")
    since, until = ago(days=30), ago(minutes=-5)
    params = {"since": iso(since), "until": iso(until)}
    logged = await access_events(app)  # the log as it stands before the report call
    r = await client.get(REPORT, params=params, headers=auditor.headers)
    assert r.status_code == 200, r.text
    report = r.json()

    # Accesses and denials: recounted from the log, and the ones built above by name.
    allowed = Counter((e["role"], e["purpose"]) for e in logged if e["outcome"] == "allowed")
    assert {(a["role"], a["purpose"]): a["count"] for a in report["accesses"]} == dict(allowed)
    assert allowed[("employee", "order_confirmation")] == 2
    assert allowed[("storefront", "registration")] == 3
    denied = Counter(e["reason"] for e in logged if e["outcome"] == "denied")
    assert {d["reason"]: d["count"] for d in report["denials"]} == dict(denied)
    assert denied["consent_missing"] == 1

    assert report["deletion_requests"] == {
        "received": 5,
        "executed_on_time": 1,
        "executed_late": 1,
        "rejected_on_time": 1,
        "rejected_late": 0,
        "on_time": 2,
        "late": 1,
        "overdue": 2,
    }
    assert report["complaints"] == {
        "received": 4,
        "by_status": {"closed": 1, "received": 2, "rejected": 1},
        "by_category": {"data_accuracy": 1, "misuse": 2, "security_report": 1},
        "upheld_on_time": 1,
        "upheld_late": 0,
        "rejected_on_time": 0,
        "rejected_late": 1,
        "rejected_by_ground": {"inaccurate_registration_data": 1},
        "answered_on_time": 1,
        "answered_late": 1,
        "overdue": 1,
    }
    assert report["breaches"] == {
        "detected": 4,
        "affected_customers": 1 + 1 + 1 + 3,
        "authority_on_time": 1,
        "authority_late": 1,
        "authority_overdue": 1,
        "authority_pending": 1,
        "subjects_notified": 1,
    }
    assert report["judicial_disclosures"] == [
        {"authority_type": "court", "requests": 1, "disclosures": 2},
        {"authority_type": "police_investigation", "requests": 1, "disclosures": 1},
    ]
    assert report["as_of"] <= report["generated_at"]

    # The same figures as CSV rows.
    r = await client.get(REPORT, params=params, headers={**auditor.headers, "Accept": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["section", "key", "value"]
    table = {(s, k): v for s, k, v in rows[1:]}
    assert table[("accesses", "employee/order_confirmation")] == "2"
    assert table[("denials", "consent_missing")] == "1"
    assert table[("deletion_requests", "late")] == "1"
    assert table[("complaints", "by_status.received")] == "2"
    assert table[("complaints", "rejected_by_ground.inaccurate_registration_data")] == "1"
    assert table[("breaches", "authority_overdue")] == "1"
    assert table[("judicial_disclosures", "court.disclosures")] == "2"
    assert table[("report", "since")] == iso(
        datetime.fromisoformat(report["since"].replace("Z", "+00:00"))
    )
    # Every JSON figure is in the CSV, with the same value.
    for section in ("deletion_requests", "breaches"):
        for key, value in report[section].items():
            assert table[(section, key)] == str(value)
    events = await governance_events(app, "report.compliance")
    assert [(e["role"], e["outcome"]) for e in events] == [("auditor", "allowed")] * 2


async def test_a_past_window_reads_as_it_did_then(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory, make_customer: Any
) -> None:
    who = await build_history(app, client, issue, make_customer)
    params = {"since": iso(ago(days=45)), "until": iso(ago(days=30))}
    r = await client.get(REPORT, params=params, headers=who["dpo"].headers)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["accesses"] == []
    assert report["denials"] == []
    assert report["as_of"] == report["until"]
    # Requested day 40, due day 37: one decided late on day 35, one still pending (overdue at
    # the window's end, day 30, whatever happened after).
    assert report["deletion_requests"] == {
        "received": 2,
        "executed_on_time": 0,
        "executed_late": 1,
        "rejected_on_time": 0,
        "rejected_late": 0,
        "on_time": 0,
        "late": 1,
        "overdue": 1,
    }
    complaints = report["complaints"]
    assert complaints["received"] == 1
    assert complaints["by_status"] == {"rejected": 1}
    assert (complaints["rejected_on_time"], complaints["overdue"]) == (1, 0)
    assert report["breaches"] == {
        "detected": 1,
        "affected_customers": 1,
        "authority_on_time": 0,
        "authority_late": 0,
        "authority_overdue": 1,
        "authority_pending": 0,
        "subjects_notified": 0,
    }
    assert report["judicial_disclosures"] == []


async def test_the_window_must_be_ordered_and_carry_offsets(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory
) -> None:
    dpo = await issue("dpo", "report-dpo")
    now = ago(seconds=0)
    for params in (
        {"since": iso(now), "until": iso(now)},
        {"since": iso(now), "until": iso(now - timedelta(days=1))},
        {"since": "2026-11-01T00:00:00", "until": iso(now)},
        {"until": iso(now)},
        {"since": "yesterday", "until": iso(now)},
    ):
        r = await client.get(REPORT, params=params, headers=dpo.headers)
        body = assert_problem(r, 422)
        assert body["errors"], body
    assert await governance_events(app, "report.compliance") == []
