"""The DPO's desk (issue 19.1): what is due, deletion and access requests, complaint moves.

Set-up inserts rows directly (requests with the due dates a test needs, breaches, complaints
through their service); each route is tested for the allowed role and its access event, the
roles the API refuses (403 and a logged denial), a bad form (422, a message beside the field,
nothing changed), a double submit (acted on once) and a post without its CSRF token (403).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from pdvault.auth.principal import Actor
from pdvault.console import dpodesk_router
from pdvault.console.dpodesk import time_left
from pdvault.customers.models import Customer
from pdvault.erasure.models import DeletionRequest
from pdvault.governance.complaint_schemas import ComplaintIn
from pdvault.governance.complaints import ComplaintService
from pdvault.governance.models import Breach, Complaint
from pdvault.idempotency import IdempotencyRecord
from pdvault.policy import Role
from pdvault.subjects.models import AccessRequest
from tests.conftest import Issued, TokenFactory, access_events
from tests.console.conftest import SignIn, post_form

_ONCE = re.compile(r'name="once" value="([^"]+)"')


def _actor(issued: Issued, role: Role) -> Actor:
    return Actor(
        principal_id=uuid.UUID(issued.principal_id),
        name=f"test-{role.value}",
        role=role,
        partner_id=None,
        token_id=uuid.UUID(issued.token_id),
    )


async def _request(
    app: Any,
    model: type[DeletionRequest] | type[AccessRequest],
    customer_id: str,
    due_in: timedelta,
    *,
    status: str = "pending",
    by: str,
    reference: str | None = None,
) -> str:
    """A data-subject request inserted directly, due ``due_in`` from now."""
    now = datetime.now(UTC)
    row = model(
        id=uuid.uuid4(),
        customer_id=uuid.UUID(customer_id),
        channel="letter",
        status=status,
        requested_by=uuid.UUID(by),
        requested_at=now - timedelta(days=1),
        due_at=now + due_in,
    )
    if isinstance(row, AccessRequest):
        row.reference = reference or "CV-2026-0001"
    async with app.state.runtime.sessions() as session:
        session.add(row)
        await session.commit()
    return str(row.id)


async def _complaint(app: Any, dpo: Issued, customer_id: str | None = None) -> str:
    async with app.state.runtime.sessions() as session:
        service = ComplaintService(app.state.runtime, session, _actor(dpo, Role.DPO))
        out = await service.file(
            ComplaintIn(
                customer_id=uuid.UUID(customer_id) if customer_id else None,
                category="misuse",
                channel="hotline",
                description="Khách phàn nàn (mẫu)",
            )
        )
        await session.commit()
    return str(out.id)


async def _breach(app: Any, dpo: Issued, detected_ago: timedelta) -> str:
    now = datetime.now(UTC)
    breach = Breach(
        id=uuid.uuid4(),
        detected_at=now - detected_ago,
        recorded_at=now,
        recorded_by=uuid.UUID(dpo.principal_id),
        summary="Sự cố mẫu",
        data_categories=["email"],
        all_customers=True,
        affected_count=0,
        authority_due_at=now - detected_ago + timedelta(hours=72),
        subject_notices=0,
    )
    async with app.state.runtime.sessions() as session:
        session.add(breach)
        await session.commit()
    return str(breach.id)


async def _status(app: Any, model: Any, row_id: str) -> str:
    async with app.state.runtime.sessions() as session:
        row = await session.get(model, uuid.UUID(row_id))
        assert row is not None
        return str(row.status)


def _once(html: str, action: str) -> str:
    """The once-key of the form posting to ``action`` on the page."""
    form = html[html.index(f'action="{action}"') :]
    found = _ONCE.search(form)
    assert found
    return found.group(1)


def _csrf(html: str) -> str:
    return html.split('name="csrf" value="')[1].split('"')[0]


Open = tuple[str, str, str]


async def _open_three(app: Any, dpo: Issued, customer: str) -> Open:
    """A pending deletion request, a pending access request (both due in 3 days) and a
    received complaint, all about ``customer``."""
    deletion = await _request(
        app, DeletionRequest, customer, timedelta(days=3), by=dpo.principal_id
    )
    access = await _request(app, AccessRequest, customer, timedelta(days=3), by=dpo.principal_id)
    complaint = await _complaint(app, dpo, customer)
    return deletion, access, complaint


def _decisions(open_: Open) -> tuple[tuple[str, str], ...]:
    """Every decision form's path about ``open_``, with the action its refusal is logged as."""
    deletion, access, complaint = open_
    return (
        (f"/console/deletion-requests/{deletion}/approve", "deletion.decide"),
        (f"/console/deletion-requests/{deletion}/reject", "deletion.decide"),
        (f"/console/access-requests/{access}/fulfil", "access_request.decide"),
        (f"/console/access-requests/{access}/reject", "access_request.decide"),
        (f"/console/complaints/{complaint}/transition", "complaint.transition"),
    )


async def _decisions_refused(
    client: httpx.AsyncClient, app: Any, csrf: str, open_: Open, role: str
) -> None:
    """Each decision form posted by ``role`` is refused (403) and the denial logged."""
    for path, action in _decisions(open_):
        r = await post_form(
            client, path, {"csrf": csrf, "reason": "x", "to": "investigating", "note": "x"}
        )
        assert r.status_code == 403, path
        assert await access_events(app, action=action, outcome="denied", role=role)


async def _still_open(app: Any, open_: Open) -> None:
    deletion, access, complaint = open_
    assert await _status(app, DeletionRequest, deletion) == "pending"
    assert await _status(app, AccessRequest, access) == "pending"
    assert await _status(app, Complaint, complaint) == "received"


# -- time left -----------------------------------------------------------------------------


def test_time_left_reads_as_a_person_says_it() -> None:
    now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert time_left(now + timedelta(days=2, hours=3, minutes=10), now, "vi") == "còn 2 ngày 3 giờ"
    assert time_left(now - timedelta(hours=5), now, "vi") == "quá hạn 5 giờ"
    assert time_left(now + timedelta(minutes=40), now, "vi") == "còn 40 phút"
    assert time_left(now + timedelta(days=1), now, "en") == "1 day left"
    assert (
        time_left(now - timedelta(hours=1, minutes=2), now, "en") == "overdue by 1 hour 2 minutes"
    )
    assert time_left(now + timedelta(seconds=20), now, "en") == "less than a minute left"


# -- what is due ---------------------------------------------------------------------------


async def test_what_is_due_lists_overdue_first_with_counts_and_time_left(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    console_sign_in: SignIn,
    make_customer: Any,
) -> None:
    dpo = await issue("dpo")
    a, b = await make_customer(), await make_customer()
    late = await _request(
        app, DeletionRequest, a, -timedelta(hours=5, seconds=30), by=dpo.principal_id
    )
    soon = await _request(
        app, AccessRequest, b, timedelta(days=2, hours=3, seconds=50), by=dpo.principal_id
    )
    done = await _request(
        app, DeletionRequest, b, timedelta(days=1), status="rejected", by=dpo.principal_id
    )
    complaint = await _complaint(app, dpo, a)
    breach = await _breach(app, dpo, timedelta(hours=10))
    # Not due: a complaint already decided, a breach whose authority was notified.
    decided = await _complaint(app, dpo, b)
    notified = await _breach(app, dpo, timedelta(hours=80))
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(Complaint).where(Complaint.id == uuid.UUID(decided)).values(status="upheld")
        )
        await session.execute(
            update(Breach)
            .where(Breach.id == uuid.UUID(notified))
            .values(authority_notified_at=datetime.now(UTC))
        )
        await session.commit()

    await console_sign_in(dpo.token)
    start = await client.get("/console/")
    assert 'class="card due-summary"' in start.text
    assert "1 quá hạn" in start.text
    assert 'href="/console/due"' in start.text

    r = await client.get("/console/due")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    html = r.text
    rows = html[html.index("<tbody>") :]
    # Overdue first (marked by a word and a sign), then by deadline: the access request
    # (2 days 3 hours left), the breach (62 hours), the complaint (30 days).
    order = [rows.index(f"/{x}") for x in (late, soon, breach, complaint)]
    assert order == sorted(order)
    assert done not in html
    assert decided not in html
    assert notified not in html
    assert "⚠" in rows[: rows.index(f"/{late}")]
    assert "quá hạn 5 giờ" in html
    assert "còn 2 ngày 3 giờ" in html
    assert f'href="/console/breaches/{breach}"' in html
    for action in ("deletion.list", "access_request.list", "complaint.list", "breach.list"):
        [event, *_] = await access_events(app, action=action)
        assert event["request_id"].startswith("console:")

    # The auditor may list requests: the page, but no summary on the start page.
    auditor = await issue("auditor")
    await console_sign_in(auditor.token)
    assert (await client.get("/console/due")).status_code == 200
    assert "due-summary" not in (await client.get("/console/")).text


@pytest.mark.parametrize("role", ["employee", "admin", "legal"])
async def test_roles_that_may_not_list_requests_are_refused_the_desk(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    console_sign_in: SignIn,
    make_customer: Any,
    role: str,
) -> None:
    dpo, who = await issue("dpo"), await issue(role)
    customer = await make_customer()
    deletion, access, complaint = await _open_three(app, dpo, customer)
    csrf = await console_sign_in(who.token)
    await _decisions_refused(client, app, csrf, (deletion, access, complaint), role)
    assert (await client.get(f"/console/access-requests/{access}/export")).status_code == 403
    await _still_open(app, (deletion, access, complaint))
    start = await client.get("/console/")
    assert 'href="/console/due"' not in start.text
    assert "due-summary" not in start.text
    for path, action in (
        ("/console/due", "deletion.list"),
        ("/console/deletion-requests", "deletion.list"),
        ("/console/access-requests", "access_request.list"),
        (f"/console/deletion-requests/{uuid.uuid4()}", "deletion.read"),
        (f"/console/access-requests/{uuid.uuid4()}", "access_request.read"),
    ):
        r = await client.get(path)
        assert r.status_code == 403, path
        assert await access_events(app, action=action, outcome="denied", role=role)


# -- deletion requests ---------------------------------------------------------------------


async def test_deletion_requests_list_filters_and_pages(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    console_sign_in: SignIn,
    make_customer: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dpodesk_router, "PAGE_SIZE", 2)
    dpo = await issue("dpo")
    customer = await make_customer()
    pending = [
        await _request(app, DeletionRequest, customer, timedelta(days=d), by=dpo.principal_id)
        for d in (1, 2, 3)
    ]
    rejected = await _request(
        app, DeletionRequest, customer, timedelta(days=1), status="rejected", by=dpo.principal_id
    )
    await console_sign_in(dpo.token, "en")  # the start page's due summary lists once
    before = len(await access_events(app, action="deletion.list", role="dpo"))
    first = await client.get("/console/deletion-requests", params={"status": "pending"})
    assert first.status_code == 200
    assert rejected not in first.text
    shown = [p for p in pending if p in first.text]
    assert len(shown) == 2
    [next_link] = re.findall(r'href="([^"]+)" rel="next"', first.text)
    assert "status=pending" in next_link
    second = await client.get(next_link.replace("&amp;", "&"))
    assert [p for p in pending if p in second.text] == [p for p in pending if p not in shown]
    other = await client.get("/console/deletion-requests", params={"status": "rejected"})
    assert rejected in other.text
    assert len(await access_events(app, action="deletion.list", role="dpo")) == before + 3


async def test_a_dpo_approves_a_deletion_request_once_and_sees_the_erasure(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    console_sign_in: SignIn,
    make_customer: Any,
) -> None:
    dpo, employee = await issue("dpo"), await issue("employee")
    customer = await make_customer()
    req = await _request(app, DeletionRequest, customer, timedelta(days=3), by=dpo.principal_id)
    await console_sign_in(dpo.token, "en")
    page = await client.get(f"/console/deletion-requests/{req}")
    assert page.status_code == 200
    assert await access_events(app, action="deletion.read", outcome="allowed")
    assert page.headers["cache-control"] == "no-store"
    path = f"/console/deletion-requests/{req}/approve"
    form = {"csrf": _csrf(page.text), "once": _once(page.text, path)}

    # Without its CSRF token: refused, nothing erased.
    assert (await post_form(client, path, {"once": form["once"]})).status_code == 403
    assert await _status(app, DeletionRequest, req) == "pending"

    r = await post_form(client, path, form)
    assert r.status_code == 303
    assert r.headers["location"] == f"/console/deletion-requests/{req}?done=executed"
    again = await post_form(client, path, form)  # a double submit
    assert again.status_code == 303
    assert len(await access_events(app, action="deletion.execute")) == 1
    assert len(await access_events(app, action="deletion.shred")) == 1
    assert await _status(app, DeletionRequest, req) == "executed"

    shown = await client.get(r.headers["location"])
    assert "the customer is erased" in shown.text
    assert 'id="erasure"' in shown.text
    assert "crypto-shredding" in shown.text
    [execute] = await access_events(app, action="deletion.execute")
    assert f'href="/console/audit/events/{execute["seq"]}"' in shown.text
    assert "<code>deletion.shred</code>" in shown.text
    assert 'id="approve"' not in shown.text

    read = await client.get(
        f"/v1/customers/{customer}",
        params={"purpose": "order_confirmation"},
        headers=employee.headers,
    )
    assert read.status_code == 410
    async with app.state.runtime.sessions() as session:
        row = await session.scalar(select(Customer).where(Customer.id == uuid.UUID(customer)))
        assert row is not None
        assert row.wrapped_dek is None


async def test_a_legal_hold_is_shown_and_approval_refused_readably(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    console_sign_in: SignIn,
    make_customer: Any,
) -> None:
    dpo, legal = await issue("dpo"), await issue("legal")
    customer = await make_customer()
    filed = await client.post(
        "/v1/judicial-requests",
        json={
            "authority_type": "police_investigation",
            "authority_name": "Cơ quan Mẫu",
            "document_number": "45/QĐ-MAU",
            "document_date": "2026-11-02",
            "legal_basis": "Điều mẫu (ví dụ)",
            "case_reference": "VA-MAU-1",
            "customer_ids": [customer],
            "fields": ["full_name"],
            "valid_until": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        },
        headers=legal.headers,
    )
    assert filed.status_code == 201, filed.text
    req = await _request(app, DeletionRequest, customer, timedelta(days=3), by=dpo.principal_id)
    await console_sign_in(dpo.token, "en")
    page = await client.get(f"/console/deletion-requests/{req}")
    assert 'id="legal-hold"' in page.text
    path = f"/console/deletion-requests/{req}/approve"
    r = await post_form(client, path, {"csrf": _csrf(page.text), "once": _once(page.text, path)})
    assert r.status_code == 409
    assert "under a legal hold and cannot be erased" in r.text
    assert await _status(app, DeletionRequest, req) == "pending"
    [refusal] = await access_events(app, action="deletion.execute", outcome="denied")
    assert refusal["reason"] == "legal_hold"
    assert refusal["request_id"].startswith("console:")


async def test_rejecting_a_deletion_request_needs_a_reason(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    console_sign_in: SignIn,
    make_customer: Any,
) -> None:
    dpo = await issue("dpo")
    customer = await make_customer()
    req = await _request(app, DeletionRequest, customer, timedelta(days=3), by=dpo.principal_id)
    await console_sign_in(dpo.token, "en")
    page = await client.get(f"/console/deletion-requests/{req}")
    path = f"/console/deletion-requests/{req}/reject"
    form = {"csrf": _csrf(page.text), "once": _once(page.text, path)}
    bad = await post_form(client, path, {**form, "reason": "   "})
    assert bad.status_code == 422
    assert 'id="reason-error"' in bad.text
    assert "Write the reason." in bad.text
    assert await _status(app, DeletionRequest, req) == "pending"
    assert not await access_events(app, action="deletion.reject")

    r = await post_form(client, path, {**form, "reason": "Trùng yêu cầu <b>cũ</b>"})
    assert r.status_code == 303
    assert (
        await post_form(client, path, {**form, "reason": "Trùng yêu cầu <b>cũ</b>"})
    ).status_code == 303
    assert len(await access_events(app, action="deletion.reject")) == 1
    shown = await client.get(r.headers["location"])
    assert "The request was rejected" in shown.text
    assert "Trùng yêu cầu &lt;b&gt;cũ&lt;/b&gt;" in shown.text
    assert await _status(app, DeletionRequest, req) == "rejected"
    # The form's remembered answer holds the decision, not the reason (sealed elsewhere).
    async with app.state.runtime.sessions() as session:
        bodies = (await session.scalars(select(IdempotencyRecord.body))).all()
    assert bodies
    assert all("Trùng".encode() not in bytes(b) for b in bodies)


async def test_the_auditor_reads_requests_but_may_not_decide(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    console_sign_in: SignIn,
    make_customer: Any,
) -> None:
    dpo, auditor = await issue("dpo"), await issue("auditor")
    customer = await make_customer()
    deletion, access, complaint = await _open_three(app, dpo, customer)
    await console_sign_in(auditor.token, "en")
    page = await client.get(f"/console/deletion-requests/{deletion}")
    assert page.status_code == 200
    assert 'id="approve"' not in page.text
    csrf = _csrf(page.text)
    await _decisions_refused(client, app, csrf, (deletion, access, complaint), "auditor")
    export = await client.get(f"/console/access-requests/{access}/export")
    assert export.status_code == 403
    assert await access_events(app, action="customer.export", outcome="denied", role="auditor")
    assert (await client.get(f"/console/access-requests/{access}")).status_code == 200
    complaint_page = await client.get(f"/console/complaints/{complaint}")
    assert 'id="transition"' not in complaint_page.text
    await _still_open(app, (deletion, access, complaint))


# -- access requests -----------------------------------------------------------------------


async def test_a_dpo_downloads_the_export_and_fulfils_an_access_request_once(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    console_sign_in: SignIn,
    make_customer: Any,
) -> None:
    dpo = await issue("dpo")
    customer = await make_customer(full_name="Phạm Thị Xuất")
    req = await _request(app, AccessRequest, customer, timedelta(days=3), by=dpo.principal_id)
    await console_sign_in(dpo.token, "en")
    listing = await client.get("/console/access-requests")
    assert f'href="/console/access-requests/{req}"' in listing.text
    page = await client.get(f"/console/access-requests/{req}")
    assert page.status_code == 200
    assert "CV-2026-0001" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert len(await access_events(app, action="access_request.read", outcome="allowed")) == 1

    export = await client.get(f"/console/access-requests/{req}/export")
    assert export.status_code == 200
    assert export.headers["cache-control"] == "no-store"
    assert export.headers["content-disposition"] == (
        f'attachment; filename="access-request-{req}.json"'
    )
    document = export.json()
    assert document["fields"]["full_name"] == "Phạm Thị Xuất"
    assert document["purpose"] == "data_subject_request"
    [event] = await access_events(app, action="customer.export")
    assert event["purpose"] == "data_subject_request"
    assert event["request_id"].startswith("console:")

    path = f"/console/access-requests/{req}/fulfil"
    form = {"csrf": _csrf(page.text), "once": _once(page.text, path)}
    assert (await post_form(client, path, {"once": form["once"]})).status_code == 403
    r = await post_form(client, path, form)
    assert r.status_code == 303
    assert (await post_form(client, path, form)).status_code == 303
    assert len(await access_events(app, action="access_request.fulfil")) == 1
    assert await _status(app, AccessRequest, req) == "fulfilled"
    shown = await client.get(r.headers["location"])
    assert "marked fulfilled" in shown.text
    assert 'id="fulfil"' not in shown.text
    # Closed: the export's purpose is no longer open (the policy's refusal, as in the API).
    assert (await client.get(f"/console/access-requests/{req}/export")).status_code == 403


async def test_rejecting_an_access_request_needs_a_reason(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    console_sign_in: SignIn,
    make_customer: Any,
) -> None:
    dpo = await issue("dpo")
    customer = await make_customer()
    req = await _request(app, AccessRequest, customer, timedelta(days=3), by=dpo.principal_id)
    await console_sign_in(dpo.token)
    page = await client.get(f"/console/access-requests/{req}")
    path = f"/console/access-requests/{req}/reject"
    form = {"csrf": _csrf(page.text), "once": _once(page.text, path)}
    bad = await post_form(client, path, {**form, "reason": "x" * 501})
    assert bad.status_code == 422
    assert 'id="reason-error"' in bad.text
    assert await _status(app, AccessRequest, req) == "pending"
    r = await post_form(client, path, {**form, "reason": "Không xác minh được người yêu cầu"})
    assert r.status_code == 303
    assert await _status(app, AccessRequest, req) == "rejected"
    [event] = await access_events(app, action="access_request.reject")
    assert event["request_id"].startswith("console:")
    # Already decided: a second, freshly drawn form is refused readably (409), nothing changes.
    page = await client.get(f"/console/access-requests/{req}")
    assert 'id="reject"' not in page.text
    late = await post_form(
        client, path, {"csrf": _csrf(page.text), "once": "other", "reason": "lần hai"}
    )
    assert late.status_code == 409
    assert 'id="refusal"' in late.text
    assert len(await access_events(app, action="access_request.reject", outcome="allowed")) == 1
    assert await access_events(app, action="access_request.reject", outcome="denied")


# -- complaints ----------------------------------------------------------------------------


async def test_a_complaint_moves_only_where_the_machine_allows(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    console_sign_in: SignIn,
) -> None:
    dpo = await issue("dpo")
    complaint = await _complaint(app, dpo)
    await console_sign_in(dpo.token, "en")
    path = f"/console/complaints/{complaint}/transition"
    page = await client.get(f"/console/complaints/{complaint}")
    offered = re.findall(r'name="to" value="([a-z]+)"', page.text)
    assert offered == ["investigating"]
    form = {"csrf": _csrf(page.text), "once": _once(page.text, path)}

    bad = await post_form(client, path, {**form, "to": "investigating", "note": " "})
    assert bad.status_code == 422
    assert "Write a note on this step." in bad.text
    assert await _status(app, Complaint, complaint) == "received"

    # A state the machine does not allow from here: the service's logged refusal, shown.
    skip = await post_form(client, path, {**form, "once": "skip", "to": "upheld", "note": "n"})
    assert skip.status_code == 409
    assert "cannot move to that state" in skip.text
    assert await access_events(app, action="complaint.transition", outcome="denied")

    r = await post_form(client, path, {**form, "to": "investigating", "note": "Kiểm tra nhật ký"})
    assert r.status_code == 303
    again = await post_form(
        client, path, {**form, "to": "investigating", "note": "Kiểm tra nhật ký"}
    )
    assert again.status_code == 303
    assert len(await access_events(app, action="complaint.transition", outcome="allowed")) == 1
    shown = await client.get(r.headers["location"])
    assert "The complaint moved" in shown.text
    assert "Kiểm tra nhật ký" in shown.text
    assert sorted(re.findall(r'name="to" value="([a-z]+)"', shown.text)) == ["rejected", "upheld"]

    form = {"csrf": _csrf(shown.text), "once": _once(shown.text, path)}
    no_ground = await post_form(client, path, {**form, "to": "rejected", "note": "n"})
    assert no_ground.status_code == 422
    assert "Choose the ground of the rejection." in no_ground.text
    bad_evidence = await post_form(
        client, path, {**form, "to": "upheld", "note": "n", "evidence": "abc"}
    )
    assert bad_evidence.status_code == 422
    missing = await post_form(
        client, path, {**form, "to": "upheld", "note": "n", "evidence": "999999"}
    )
    assert missing.status_code == 422
    assert await _status(app, Complaint, complaint) == "investigating"

    upheld = await post_form(
        client,
        path,
        {**form, "to": "upheld", "note": "Có cơ sở", "measures": "Đào tạo lại nhân viên"},
    )
    assert upheld.status_code == 303
    assert await _status(app, Complaint, complaint) == "upheld"
    final = await client.get(upheld.headers["location"])
    assert re.findall(r'name="to" value="([a-z]+)"', final.text) == ["closed"]


async def test_every_desk_form_is_refused_without_its_csrf_token_or_from_elsewhere(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    console_sign_in: SignIn,
    make_customer: Any,
) -> None:
    dpo = await issue("dpo")
    customer = await make_customer()
    deletion, access, complaint = await _open_three(app, dpo, customer)
    csrf = await console_sign_in(dpo.token, "en")
    fields = {"reason": "r", "to": "investigating", "note": "n"}
    for path, _ in _decisions((deletion, access, complaint)):
        assert (await post_form(client, path, fields)).status_code == 403, path
        forged = await post_form(
            client, path, {**fields, "csrf": csrf}, origin="https://evil.example"
        )
        assert forged.status_code == 403, path
    await _still_open(app, (deletion, access, complaint))
    for action in ("deletion.execute", "deletion.reject", "access_request.fulfil"):
        assert not await access_events(app, action=action)
