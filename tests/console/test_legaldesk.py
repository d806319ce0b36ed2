"""The legal officer's desk (issue 19.2): judicial requests recorded, decided and disclosed on
the console exactly as the API does it (``pdvault.judicial``): the same operations gate each
route, the same service answers, the same access events are written."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from pdvault.console.legaldesk import end_of_shop_day
from pdvault.judicial.models import APPROVED, SUBMITTED, JudicialRequest, JudicialRequestCustomer
from tests.conftest import Issued, TokenFactory, access_events
from tests.console.conftest import csrf_of, post_form, sign_in

BASE = "/console/judicial-requests"
SCRIPT = "<script>alert(1)</script>"
_URLS = re.compile(r'(?:href|action|src)="([^"]*)"')
_ONCE = re.compile(r'name="once" value="([^"]+)"')


async def save_request(
    app: Any,
    filer: Issued,
    customer_ids: list[str],
    *,
    status: str = SUBMITTED,
    decided_by: Issued | None = None,
    valid_until: datetime | None = None,
    fields: tuple[str, ...] = ("full_name", "phone"),
    document_number: str = "45/QĐ-CSĐT-MAU",
) -> str:
    """A judicial request inserted directly, as the API's filing (and decision) leaves it."""
    now = datetime.now(UTC)
    async with app.state.runtime.sessions() as session:
        req = JudicialRequest(
            id=uuid.uuid4(),
            authority_type="police_investigation",
            authority_name="Cơ quan Cảnh sát điều tra Mẫu",
            document_number=document_number,
            document_date=date(2026, 11, 2),
            legal_basis="Điều mẫu, Bộ luật Tố tụng hình sự (ví dụ)",
            case_reference="VA-MAU-0045",
            fields=list(fields),
            valid_until=valid_until or now + timedelta(days=30),
            status=status,
            filed_by=uuid.UUID(filer.principal_id),
            filed_at=now - timedelta(hours=2),
            decided_by=uuid.UUID(decided_by.principal_id) if decided_by else None,
            decided_at=now - timedelta(hours=1) if decided_by else None,
        )
        session.add(req)
        await session.flush()
        session.add_all(
            JudicialRequestCustomer(request_id=req.id, customer_id=uuid.UUID(c))
            for c in customer_ids
        )
        await session.commit()
        return str(req.id)


async def count_requests(app: Any) -> int:
    async with app.state.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(JudicialRequest)) or 0)


async def status_of(app: Any, request_id: str) -> str:
    async with app.state.runtime.sessions() as session:
        req = await session.get(JudicialRequest, uuid.UUID(request_id))
        assert req is not None
        return req.status


def once_of(html: str) -> str:
    found = _ONCE.search(html)
    assert found, "no once field on the page"
    return found.group(1)


def filing_form(customers: list[str], **overrides: str) -> dict[str, str]:
    tomorrow = datetime.now(UTC).date() + timedelta(days=30)
    form = {
        "authority_type": "court",
        "authority_name": "Tòa án nhân dân Mẫu",
        "document_number": "123/2026/QĐ-MAU",
        "document_date": "2026-11-01",
        "legal_basis": "Điều mẫu,\r\nBộ luật Tố tụng (ví dụ)",
        "case_reference": "VA-2026-0001",
        "customer_ids": "\r\n".join(customers),
        "field_full_name": "on",
        "field_phone": "on",
        "valid_until": tomorrow.isoformat(),
    }
    form.update(overrides)
    return form


async def judicial_events(app: Any, **where: Any) -> list[dict[str, Any]]:
    return [e for e in await access_events(app, **where) if e["action"].startswith("judicial.")]


@pytest.fixture
async def legal_a(issue: TokenFactory) -> Issued:
    return await issue("legal", "legal-a")


@pytest.fixture
async def legal_b(issue: TokenFactory) -> Issued:
    return await issue("legal", "legal-b")


@pytest.fixture
async def dpo(issue: TokenFactory) -> Issued:
    return await issue("dpo", "dpo-desk")


# -- recording a request ---------------------------------------------------------------------


async def test_a_legal_officer_records_a_request_with_every_field_once(
    client: httpx.AsyncClient, app: Any, legal_a: Issued, make_customer: Any
) -> None:
    one, two = await make_customer(), await make_customer()
    await sign_in(client, legal_a.token)
    page = await client.get(f"{BASE}/new")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    for name in ("authority_type", "authority_name", "document_number", "document_date"):
        assert f'name="{name}"' in page.text
    for name in ("legal_basis", "case_reference", "customer_ids", "valid_until", "field_email"):
        assert f'name="{name}"' in page.text
    form = {"csrf": csrf_of(page.text), "once": once_of(page.text), **filing_form([one, two])}

    first = await post_form(client, f"{BASE}/new", form)
    assert first.status_code == 303, first.text
    assert "done=filed" in first.headers["location"]
    # The same drawn form sent again (a double click): one request, the same answer.
    second = await post_form(client, f"{BASE}/new", form)
    assert second.status_code == 303
    assert second.headers["location"] == first.headers["location"]
    assert await count_requests(app) == 1
    [filed] = await judicial_events(app, action="judicial.file")
    assert str(filed["principal_id"]) == legal_a.principal_id
    assert filed["request_id"].startswith("console:")

    shown = await client.get(first.headers["location"])
    assert shown.status_code == 200
    assert "Đã ghi nhận yêu cầu" in shown.text  # the confirmation, in Vietnamese
    async with app.state.runtime.sessions() as session:
        req = (await session.scalars(select(JudicialRequest))).one()
    assert req.authority_type == "court"
    assert req.legal_basis == "Điều mẫu,\nBộ luật Tố tụng (ví dụ)"
    assert req.fields == ["full_name", "phone"]
    assert req.status == SUBMITTED
    last_day = date.fromisoformat(form["valid_until"])
    assert req.valid_until == end_of_shop_day(last_day)
    assert str(req.id) in first.headers["location"]


async def test_a_bad_form_is_422_with_a_message_beside_each_field_and_records_nothing(
    client: httpx.AsyncClient, app: Any, legal_a: Issued, make_customer: Any
) -> None:
    customer = await make_customer()
    csrf = await sign_in(client, legal_a.token, "en")
    bad = filing_form(
        [customer, "not-an-id"],
        authority_type="ministry",
        authority_name="",
        document_number="x" * 101,
        document_date="01/11/2026",
        legal_basis="   ",
        case_reference="",
        field_full_name="",
        field_phone="",
        valid_until="",
    )
    r = await post_form(client, f"{BASE}/new", {"csrf": csrf, **bad})
    assert r.status_code == 422
    for name in (
        "authority_type",
        "authority_name",
        "document_number",
        "document_date",
        "legal_basis",
        "case_reference",
        "customer_ids",
        "fields",
        "valid_until",
    ):
        assert f'id="{name}-error"' in r.text, name
    assert "Line 2 is not a customer id." in r.text
    assert 'id="legal_basis" aria-invalid="true" aria-describedby="legal_basis-error"' in r.text
    assert "at most 100 characters" in r.text
    many = "\n".join(str(uuid.uuid4()) for _ in range(60))
    r = await post_form(client, f"{BASE}/new", {"csrf": csrf, **filing_form([many])})
    assert r.status_code == 422
    assert "about 50 ids" in r.text
    assert await count_requests(app) == 0
    assert not await judicial_events(app)


async def test_the_services_refusals_land_on_their_fields(
    client: httpx.AsyncClient, app: Any, legal_a: Issued, make_customer: Any
) -> None:
    """An unknown customer and an expiry already past: the service's own checks."""
    customer = await make_customer()
    csrf = await sign_in(client, legal_a.token, "en")
    unknown = str(uuid.uuid4())
    r = await post_form(
        client, f"{BASE}/new", {"csrf": csrf, **filing_form([customer, "", unknown])}
    )
    assert r.status_code == 422
    assert "No customer has the id on line 3." in r.text
    yesterday = (datetime.now(UTC).date() - timedelta(days=2)).isoformat()
    r = await post_form(
        client, f"{BASE}/new", {"csrf": csrf, **filing_form([customer], valid_until=yesterday)}
    )
    assert r.status_code == 422
    assert 'id="valid_until-error"' in r.text
    assert await count_requests(app) == 0


async def test_recording_without_the_csrf_token_is_refused(
    client: httpx.AsyncClient, app: Any, legal_a: Issued, make_customer: Any
) -> None:
    customer = await make_customer()
    await sign_in(client, legal_a.token)
    r = await post_form(client, f"{BASE}/new", filing_form([customer]))
    assert r.status_code == 403
    assert await count_requests(app) == 0


@pytest.mark.parametrize("role", ["auditor", "admin", "employee"])
async def test_roles_the_api_refuses_cannot_record(
    client: httpx.AsyncClient, app: Any, issue: TokenFactory, make_customer: Any, role: str
) -> None:
    customer = await make_customer()
    who = await issue(role)
    csrf = await sign_in(client, who.token)
    assert (await client.get(f"{BASE}/new")).status_code == 403
    r = await post_form(client, f"{BASE}/new", {"csrf": csrf, **filing_form([customer])})
    assert r.status_code == 403
    assert await count_requests(app) == 0
    denied = await access_events(app, action="judicial.file", outcome="denied")
    assert len(denied) == 2
    assert {e["reason"] for e in denied} == {"role_not_permitted"}
    # The API refuses the same role the same way.
    api = await client.post("/v1/judicial-requests", json={}, headers=who.headers)
    assert api.status_code == 403


# -- the list and one request ----------------------------------------------------------------


async def test_the_list_filters_by_status_and_pages(
    client: httpx.AsyncClient,
    app: Any,
    legal_a: Issued,
    dpo: Issued,
    make_customer: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    customer = await make_customer()
    approved = await save_request(
        app, legal_a, [customer], status=APPROVED, decided_by=dpo, document_number="A-1"
    )
    waiting = [
        await save_request(app, legal_a, [customer], document_number=f"W-{n}") for n in range(3)
    ]
    await sign_in(client, legal_a.token)
    everything = await client.get(BASE)
    assert everything.status_code == 200
    assert all(rid in everything.text for rid in [approved, *waiting])
    only = await client.get(BASE, params={"status": "approved"})
    assert approved in only.text
    assert not any(rid in only.text for rid in waiting)
    # An unknown status is no filter (as the page draws it), not an error.
    assert (await client.get(BASE, params={"status": "bogus"})).status_code == 200

    monkeypatch.setattr("pdvault.console.legaldesk_router.PAGE_SIZE", 2)
    first = await client.get(BASE, params={"status": "submitted"})
    links = [u for u in _URLS.findall(first.text) if "cursor=" in u]
    assert len(links) == 1
    assert "status=submitted" in links[0]
    second = await client.get(links[0].replace("&amp;", "&"))
    shown = [rid for rid in waiting if rid in first.text or rid in second.text]
    assert sorted(shown) == sorted(waiting)
    assert not [rid for rid in waiting if rid in first.text and rid in second.text]


@pytest.mark.parametrize("role", ["legal", "dpo", "auditor"])
async def test_the_roles_of_the_rule_table_read_the_list_and_a_request(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    legal_a: Issued,
    make_customer: Any,
    role: str,
) -> None:
    customer = await make_customer(full_name=SCRIPT)
    rid = await save_request(app, legal_a, [customer])
    who = await issue(role, f"reader-{role}")
    await sign_in(client, who.token)
    assert (await client.get(BASE)).status_code == 200
    r = await client.get(f"{BASE}/{rid}")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert customer in r.text  # the ids named, never a value
    assert "&lt;script" not in r.text
    assert "<script>alert" not in r.text
    [read] = await judicial_events(app, action="judicial.read")
    assert str(read["principal_id"]) == who.principal_id
    assert read["basis"] == f"judicial_request:{rid}"
    # A decision for a dpo who did not record it only; no disclosure before approval.
    assert (f'action="{BASE}/{rid}/approve"' in r.text) is (role == "dpo")
    assert "/disclosure" not in r.text


@pytest.mark.parametrize("role", ["admin", "employee"])
async def test_roles_the_api_refuses_cannot_list_or_read(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    legal_a: Issued,
    make_customer: Any,
    role: str,
) -> None:
    rid = await save_request(app, legal_a, [await make_customer()])
    who = await issue(role)
    await sign_in(client, who.token)
    assert (await client.get(BASE)).status_code == 403
    assert (await client.get(f"{BASE}/{rid}")).status_code == 403
    assert len(await access_events(app, action="judicial.list", outcome="denied")) == 1
    assert len(await access_events(app, action="judicial.read", outcome="denied")) == 1
    assert (await client.get("/v1/judicial-requests", headers=who.headers)).status_code == 403
    # And the navigation does not offer the room.
    start = await client.get("/console/")
    assert f'href="{BASE}"' not in start.text


async def test_an_unknown_request_is_404(client: httpx.AsyncClient, legal_a: Issued) -> None:
    await sign_in(client, legal_a.token)
    assert (await client.get(f"{BASE}/{uuid.uuid4()}")).status_code == 404


# -- the four-eyes rule ----------------------------------------------------------------------


async def test_the_recorder_waits_for_a_second_approver_and_sees_no_decision(
    client: httpx.AsyncClient,
    app: Any,
    legal_a: Issued,
    legal_b: Issued,
    make_customer: Any,
) -> None:
    rid = await save_request(app, legal_a, [await make_customer()])
    for who in (legal_a, legal_b):
        csrf = await sign_in(client, who.token, "en")
        page = await client.get(f"{BASE}/{rid}")
        assert "Waiting for a second approver." in page.text
        assert "/approve" not in page.text
        assert "/reject" not in page.text
        # A legal officer's forged approval: the API's rule (dpo only) refuses it, logged.
        r = await post_form(client, f"{BASE}/{rid}/approve", {"csrf": csrf})
        assert r.status_code == 403
        assert await status_of(app, rid) == SUBMITTED
    denied = await access_events(app, action="judicial.decide", outcome="denied")
    assert [str(e["principal_id"]) for e in denied] == [legal_a.principal_id, legal_b.principal_id]


async def test_a_dpo_who_recorded_it_is_refused_by_the_service_with_its_reason(
    client: httpx.AsyncClient, app: Any, dpo: Issued, make_customer: Any
) -> None:
    rid = await save_request(app, dpo, [await make_customer()])
    csrf = await sign_in(client, dpo.token, "en")
    page = await client.get(f"{BASE}/{rid}")
    assert "Waiting for a second approver." in page.text
    assert "You recorded this request, so you cannot approve it" in page.text
    assert "/approve" not in page.text
    r = await post_form(client, f"{BASE}/{rid}/approve", {"csrf": csrf, "once": "forged-1"})
    assert r.status_code == 409
    assert "a data-protection officer who did not record it decides it" in r.text
    assert await status_of(app, rid) == SUBMITTED
    [refusal] = await access_events(app, action="judicial.approve", outcome="denied")
    assert refusal["reason"] == "four_eyes"
    assert str(refusal["principal_id"]) == dpo.principal_id


async def test_another_dpo_approves_once(
    client: httpx.AsyncClient, app: Any, legal_a: Issued, dpo: Issued, make_customer: Any
) -> None:
    rid = await save_request(app, legal_a, [await make_customer()])
    await sign_in(client, dpo.token)
    page = await client.get(f"{BASE}/{rid}")
    assert f'action="{BASE}/{rid}/approve"' in page.text
    assert f'action="{BASE}/{rid}/reject"' in page.text
    form = {"csrf": csrf_of(page.text), "once": once_of(page.text)}
    forged = await post_form(client, f"{BASE}/{rid}/approve", {"once": form["once"]})
    assert forged.status_code == 403  # no CSRF token: nothing decided
    assert await status_of(app, rid) == SUBMITTED
    first = await post_form(client, f"{BASE}/{rid}/approve", form)
    assert first.status_code == 303
    assert first.headers["location"] == f"{BASE}/{rid}?done=approved"
    again = await post_form(client, f"{BASE}/{rid}/approve", form)
    assert again.status_code == 303  # the same drawn form: acted once, no 409
    assert await status_of(app, rid) == APPROVED
    assert len(await judicial_events(app, action="judicial.approve")) == 1
    shown = await client.get(first.headers["location"])
    assert "Đã phê duyệt yêu cầu" in shown.text
    assert "/approve" not in shown.text
    # A new form on a decided request: the service's 409, readable.
    r = await post_form(client, f"{BASE}/{rid}/approve", {"csrf": form["csrf"]})
    assert r.status_code == 409
    assert "Không thể chuyển sang trạng thái đó" in r.text


async def test_a_rejection_needs_its_reason(
    client: httpx.AsyncClient, app: Any, legal_a: Issued, dpo: Issued, make_customer: Any
) -> None:
    rid = await save_request(app, legal_a, [await make_customer()])
    csrf = await sign_in(client, dpo.token, "en")
    r = await post_form(client, f"{BASE}/{rid}/reject", {"csrf": csrf, "reason": "  "})
    assert r.status_code == 422
    assert 'id="reason-error"' in r.text
    assert "Write the reason for the rejection." in r.text
    assert await status_of(app, rid) == SUBMITTED
    assert not await judicial_events(app, action="judicial.reject")
    r = await post_form(client, f"{BASE}/{rid}/reject", {"reason": "Thiếu chữ ký"})
    assert r.status_code == 403  # no CSRF token
    assert await status_of(app, rid) == SUBMITTED

    page = await client.get(f"{BASE}/{rid}")
    form = {"csrf": csrf, "once": once_of(page.text), "reason": "Thiếu chữ ký <b>x</b>"}
    r = await post_form(client, f"{BASE}/{rid}/reject", form)
    assert r.status_code == 303
    assert (await post_form(client, f"{BASE}/{rid}/reject", form)).status_code == 303
    assert len(await judicial_events(app, action="judicial.reject")) == 1
    shown = await client.get(r.headers["location"])
    assert "The request is rejected." in shown.text
    assert "Thiếu chữ ký &lt;b&gt;x&lt;/b&gt;" in shown.text


@pytest.mark.parametrize("role", ["legal", "auditor", "admin", "employee"])
async def test_only_a_dpo_may_reject(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    dpo: Issued,
    make_customer: Any,
    role: str,
) -> None:
    rid = await save_request(app, dpo, [await make_customer()])
    who = await issue(role, f"decider-{role}")
    csrf = await sign_in(client, who.token)
    r = await post_form(client, f"{BASE}/{rid}/reject", {"csrf": csrf, "reason": "Không đủ"})
    assert r.status_code == 403
    assert await status_of(app, rid) == SUBMITTED
    [denied] = await access_events(app, action="judicial.decide", outcome="denied")
    assert str(denied["principal_id"]) == who.principal_id


# -- the disclosure --------------------------------------------------------------------------


async def test_the_disclosure_is_the_apis_with_the_same_events_and_nothing_in_the_url(
    client: httpx.AsyncClient,
    app: Any,
    legal_a: Issued,
    legal_b: Issued,
    dpo: Issued,
    make_customer: Any,
) -> None:
    one = await make_customer(full_name=SCRIPT, phone="0911222333")
    two = await make_customer(full_name="Lê Thị Mẫu", phone="0911222444")
    rid = await save_request(app, legal_a, [one, two], status=APPROVED, decided_by=dpo)
    await sign_in(client, legal_b.token)
    page = await client.get(f"{BASE}/{rid}")
    assert f'action="{BASE}/{rid}/disclosure"' in page.text
    csrf = csrf_of(page.text)
    form = {"csrf": csrf, "customer_id": "", "field_full_name": "on", "field_phone": "on"}
    r = await post_form(client, f"{BASE}/{rid}/disclosure", form)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "<script>alert" not in r.text
    assert "+84911222333" in r.text
    assert "Lê Thị Mẫu" in r.text
    assert all("84911" not in u and "script" not in u for u in _URLS.findall(r.text))
    console_events = await judicial_events(app, action="judicial.disclose")
    assert sorted(e["customer_id"] for e in console_events) == sorted(
        uuid.UUID(c) for c in (one, two)
    )

    api = await client.get(f"/v1/judicial-requests/{rid}/disclosure", headers=legal_b.headers)
    assert api.status_code == 200
    for customer in api.json()["customers"]:
        for value in customer["fields"].values():
            shown = value.replace("<", "&lt;").replace(">", "&gt;")
            assert shown in r.text
    api_events = (await judicial_events(app, action="judicial.disclose"))[2:]
    same = ("principal_id", "role", "action", "customer_id", "fields", "purpose", "basis")
    assert sorted(tuple(str(e[k]) for k in same) for e in console_events) == sorted(
        tuple(str(e[k]) for k in same) for e in api_events
    )
    assert all(e["request_id"].startswith("console:") for e in console_events)

    # One customer and one field, as the API's customer_id and fields query.
    r = await post_form(
        client,
        f"{BASE}/{rid}/disclosure",
        {"csrf": csrf, "customer_id": two, "field_phone": "on"},
    )
    assert r.status_code == 200
    assert "+84911222444" in r.text
    assert "Lê Thị Mẫu" not in r.text
    last = (await judicial_events(app, action="judicial.disclose"))[-1]
    assert last["customer_id"] == uuid.UUID(two)
    assert last["fields"] == ["phone"]


async def test_an_unapproved_or_expired_request_refuses_readably(
    client: httpx.AsyncClient,
    app: Any,
    legal_a: Issued,
    dpo: Issued,
    make_customer: Any,
) -> None:
    customer = await make_customer(phone="0911222555")
    waiting = await save_request(app, legal_a, [customer])
    past = datetime.now(UTC) - timedelta(hours=1)
    expired = await save_request(
        app, legal_a, [customer], status=APPROVED, decided_by=dpo, valid_until=past
    )
    csrf = await sign_in(client, legal_a.token, "en")
    assert "/disclosure" not in (await client.get(f"{BASE}/{waiting}")).text
    form = {"csrf": csrf, "field_full_name": "on"}
    r = await post_form(client, f"{BASE}/{waiting}/disclosure", form)
    assert r.status_code == 403
    assert "The request is not approved: nothing can be disclosed under it." in r.text
    r = await post_form(client, f"{BASE}/{expired}/disclosure", form)
    assert r.status_code == 403
    assert "The request has expired: nothing can be disclosed under it any more." in r.text
    assert "+84911222555" not in r.text
    denied = await access_events(app, action="judicial.disclose", outcome="denied")
    assert [e["reason"] for e in denied] == ["request_not_approved", "request_expired"]
    assert not await access_events(app, action="judicial.disclose", outcome="allowed")


async def test_a_disclosure_form_out_of_scope_or_bad_is_refused(
    client: httpx.AsyncClient,
    app: Any,
    legal_a: Issued,
    dpo: Issued,
    make_customer: Any,
) -> None:
    customer, other = await make_customer(), await make_customer()
    rid = await save_request(app, legal_a, [customer], status=APPROVED, decided_by=dpo)
    csrf = await sign_in(client, legal_a.token, "en")
    r = await post_form(client, f"{BASE}/{rid}/disclosure", {"csrf": csrf, "customer_id": "x"})
    assert r.status_code == 422
    assert 'id="customer_id-error"' in r.text
    assert 'id="fields-error"' in r.text
    r = await post_form(client, f"{BASE}/{rid}/disclosure", {"csrf": csrf, "field_email": "on"})
    assert r.status_code == 403
    assert "does not name that customer or that field" in r.text
    r = await post_form(
        client,
        f"{BASE}/{rid}/disclosure",
        {"csrf": csrf, "customer_id": other, "field_phone": "on"},
    )
    assert r.status_code == 403
    assert not await access_events(app, action="judicial.disclose", outcome="allowed")
    r = await post_form(client, f"{BASE}/{rid}/disclosure", {"field_phone": "on"})
    assert r.status_code == 403  # no CSRF token
    assert not await access_events(app, action="judicial.disclose", outcome="allowed")


async def test_an_erased_customer_is_withheld_and_not_logged_as_disclosed(
    client: httpx.AsyncClient,
    app: Any,
    legal_a: Issued,
    dpo: Issued,
    make_customer: Any,
) -> None:
    from tests.judicial.conftest import mark_erased

    kept, erased = await make_customer(), await make_customer()
    rid = await save_request(app, legal_a, [kept, erased], status=APPROVED, decided_by=dpo)
    await mark_erased(app, erased)
    csrf = await sign_in(client, legal_a.token, "en")
    r = await post_form(client, f"{BASE}/{rid}/disclosure", {"csrf": csrf, "field_full_name": "on"})
    assert r.status_code == 200
    assert r.text.count('class="card disclosed"') == 1
    assert "erased: nothing is left to disclose" in r.text
    assert erased in r.text
    events = await judicial_events(app, action="judicial.disclose", outcome="allowed")
    assert [e["customer_id"] for e in events] == [uuid.UUID(kept)]


@pytest.mark.parametrize("role", ["auditor", "admin", "employee"])
async def test_roles_the_api_refuses_cannot_open_a_disclosure(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    legal_a: Issued,
    dpo: Issued,
    make_customer: Any,
    role: str,
) -> None:
    rid = await save_request(app, legal_a, [await make_customer()], status=APPROVED, decided_by=dpo)
    who = await issue(role, f"discloser-{role}")
    csrf = await sign_in(client, who.token)
    r = await post_form(client, f"{BASE}/{rid}/disclosure", {"csrf": csrf, "field_full_name": "on"})
    assert r.status_code == 403
    assert not await access_events(app, action="judicial.disclose", outcome="allowed")
    [denied] = await access_events(app, action="judicial.disclose", outcome="denied")
    assert denied["reason"] == "role_not_permitted"
    api = await client.get(f"/v1/judicial-requests/{rid}/disclosure", headers=who.headers)
    assert api.status_code == 403
