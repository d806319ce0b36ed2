"""The auditor's room (issue 18.4): the access log filtered and paged through the API's own
query, an event's detail, the CSV of a filtered view, verification with its checkpoints and
public key, a customer's access report; every page asks the policy and logs its access,
marked as the console's."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from pdvault.audit.models import AccessEvent
from pdvault.audit.writer import ALLOWED, DENIED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.console.i18n import SHOP_ZONE
from pdvault.db import utcnow
from pdvault.policy import Role
from tests.conftest import Issued, TokenFactory, access_events
from tests.console.conftest import SignIn, post_form

_ROW = re.compile(r'<td class="num" data-label="[^"]*"><a href="/console/audit/events/(\d+)">')


def _actor(who: Issued, role: str) -> Actor:
    return Actor(
        principal_id=uuid.UUID(who.principal_id),
        name=f"{role}-principal",
        role=Role(role),
        partner_id=None,
        token_id=uuid.UUID(who.token_id),
    )


async def _write(app: Any, actor: Actor, *drafts: EventDraft) -> None:
    runtime = app.state.runtime
    async with runtime.sessions() as session:
        await runtime.audit.append(session, actor, *drafts)
        await session.commit()


def _seqs(html: str) -> list[int]:
    return [int(s) for s in _ROW.findall(html)]


@pytest.fixture
async def auditor(issue: TokenFactory, console_sign_in: SignIn) -> Issued:
    person = await issue("auditor")
    person.csrf = await console_sign_in(person.token)  # type: ignore[attr-defined]
    return person


async def test_filters_each_narrow_the_log(
    client: httpx.AsyncClient, app: Any, issue: TokenFactory, auditor: Issued
) -> None:
    employee = await issue("employee")
    dpo = await issue("dpo")
    customer = uuid.uuid4()
    await _write(
        app,
        _actor(employee, "employee"),
        EventDraft("customer.read", ALLOWED, customer_id=customer, purpose="marketing"),
        EventDraft("customer.read", DENIED, customer_id=customer, reason="consent_missing"),
        EventDraft("customer.search", ALLOWED, purpose="order_confirmation"),
    )
    await _write(app, _actor(dpo, "dpo"), EventDraft("complaint.list", ALLOWED))
    everything = await access_events(app)

    async def shown(**params: str) -> list[int]:
        r = await client.get("/console/audit/events", params=params)
        assert r.status_code == 200, r.text
        return _seqs(r.text)

    def seqs(**where: Any) -> list[int]:
        return [e["seq"] for e in everything if all(e[k] == v for k, v in where.items())]

    assert await shown() == [e["seq"] for e in everything]
    assert await shown(outcome="denied") == seqs(outcome="denied")
    assert await shown(role="dpo") == seqs(role="dpo")
    assert await shown(action="customer.read") == seqs(action="customer.read")
    assert await shown(purpose="marketing") == seqs(purpose="marketing")
    assert await shown(customer_id=str(customer)) == seqs(customer_id=customer)
    assert await shown(principal_id=employee.principal_id) == seqs(
        principal_id=uuid.UUID(employee.principal_id)
    )
    assert len(await shown(role="employee", outcome="allowed", purpose="marketing")) == 1
    # The time range is in the shop's time (datetime-local fields).
    now = utcnow().astimezone(SHOP_ZONE).replace(tzinfo=None)
    hour = timedelta(hours=1)
    recent = await shown(since=(now - hour).isoformat(timespec="seconds"))
    assert [e["seq"] for e in everything] == recent[: len(everything)]
    assert await shown(until=(now - hour).isoformat(timespec="seconds")) == []
    assert await shown(since=(now + hour).isoformat(timespec="seconds")) == []


async def test_filters_are_kept_in_the_form_and_the_links(
    client: httpx.AsyncClient, app: Any, auditor: Issued
) -> None:
    await _write(app, _actor(auditor, "auditor"), *[EventDraft("audit.events", DENIED)] * 60)
    r = await client.get("/console/audit/events", params={"outcome": "denied"})
    assert '<option value="denied" selected>' in r.text
    assert 'href="/console/audit/events.csv?outcome=denied"' in r.text
    assert re.search(r'href="/console/audit/events\?outcome=denied&amp;cursor=[\w-]+"', r.text)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("customer_id", "0912345678"),
        ("principal_id", "nope"),
        ("role", "root"),
        ("outcome", "maybe"),
        ("purpose", "curiosity"),
        ("action", "customer read; DROP"),
        ("since", "yesterday"),
    ],
)
async def test_an_invalid_filter_is_a_clear_422_and_shows_nothing(
    client: httpx.AsyncClient, auditor: Issued, field: str, value: str
) -> None:
    r = await client.get("/console/audit/events", params={field: value})
    assert r.status_code == 422
    assert "Có bộ lọc không hợp lệ" in r.text
    assert _seqs(r.text) == []


async def test_cursor_paging_walks_the_whole_log_once(
    client: httpx.AsyncClient, app: Any, auditor: Issued
) -> None:
    await _write(app, _actor(auditor, "auditor"), *[EventDraft("audit.checkpoints", ALLOWED)] * 120)
    wanted = [e["seq"] for e in await access_events(app, action="audit.checkpoints")]
    seen: list[int] = []
    path: str | None = "/console/audit/events?action=audit.checkpoints"
    pages = 0
    while path:
        r = await client.get(path.replace("&amp;", "&"))
        assert r.status_code == 200
        seen += _seqs(r.text)
        pages += 1
        found = re.search(r'<a href="([^"]+)" rel="next">', r.text)
        path = found.group(1) if found else None
    assert seen == wanted
    assert pages == 3
    r = await client.get("/console/audit/events?cursor=%%%")
    assert r.status_code == 422


async def test_each_page_view_is_logged_as_the_apis_marked_console(
    client: httpx.AsyncClient, app: Any, auditor: Issued
) -> None:
    await client.get("/console/audit/events")
    [event] = await access_events(app, action="audit.events")
    assert str(event["principal_id"]) == auditor.principal_id
    assert event["request_id"].startswith("console:")
    assert event["outcome"] == "allowed"


async def test_an_events_detail(client: httpx.AsyncClient, app: Any, auditor: Issued) -> None:
    customer = uuid.uuid4()
    await _write(
        app,
        _actor(auditor, "auditor"),
        EventDraft("customer.read", DENIED, customer_id=customer, reason="role_not_permitted"),
    )
    [target] = await access_events(app, action="customer.read")
    r = await client.get(f"/console/audit/events/{target['seq']}")
    assert r.status_code == 200
    for shown in (str(customer), "role_not_permitted", target["hash"].hex(), "auditor-principal"):
        assert shown in r.text
    await client.get("/console/audit/events")
    console_event = (await access_events(app, action="audit.events"))[-1]
    r = await client.get(f"/console/audit/events/{console_event['seq']}")
    assert "<dd>bảng điều khiển</dd>" in r.text
    assert (await client.get("/console/audit/events/999999")).status_code == 404
    assert (await client.get("/console/audit/events/0")).status_code == 404


async def test_csv_export_of_the_filtered_view(
    client: httpx.AsyncClient, app: Any, auditor: Issued
) -> None:
    actor = _actor(auditor, "auditor")
    await _write(app, actor, *[EventDraft("customer.read", DENIED, reason="=cmd")] * 3)
    await _write(app, actor, EventDraft("customer.search", ALLOWED))
    r = await client.get("/console/audit/events.csv", params={"outcome": "denied"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["seq"] for row in rows] == [
        str(e["seq"]) for e in await access_events(app, outcome="denied")
    ]
    assert {row["reason"] for row in rows} == {"'=cmd"}  # never a formula in a spreadsheet
    assert {row["channel"] for row in rows} == {"api"}
    [export] = await access_events(app, action="audit.export")
    assert export["request_id"].startswith("console:")


async def test_verify_the_log_from_the_console(
    client: httpx.AsyncClient, app: Any, auditor: Issued
) -> None:
    await _write(app, _actor(auditor, "auditor"), *[EventDraft("audit.events", ALLOWED)] * 5)
    await app.state.runtime.checkpointer.checkpoint_now()
    page = await client.get("/console/audit/verify")
    assert page.status_code == 200
    [checkpoint_sig] = re.findall(
        r'data-label="[^"]*"><code class="long">([0-9a-f]{128})</code>', page.text
    )
    assert checkpoint_sig
    r = await post_form(client, "/console/audit/verify", {"csrf": auditor.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 200
    assert "Nhật ký nguyên vẹn" in r.text
    [run] = await access_events(app, action="audit.verify")
    assert run["request_id"].startswith("console:")

    target = (await access_events(app, action="audit.events"))[2]
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(AccessEvent).where(AccessEvent.seq == target["seq"]).values(action="x")
        )
        await session.commit()
    r = await post_form(client, "/console/audit/verify", {"csrf": auditor.csrf})  # type: ignore[attr-defined]
    assert "Nhật ký không vượt qua kiểm chứng." in r.text
    assert f'<a href="/console/audit/events/{target["seq"]}">{target["seq"]}</a>' in r.text
    # A verify without the form's token changes and runs nothing.
    before = len(await access_events(app, action="audit.verify"))
    assert (await post_form(client, "/console/audit/verify", {})).status_code == 403
    assert len(await access_events(app, action="audit.verify")) == before


async def test_public_key_download(client: httpx.AsyncClient, app: Any, auditor: Issued) -> None:
    r = await client.get("/console/audit/public-key.pem")
    assert r.status_code == 200
    assert r.text == app.state.runtime.audit.signer.public_pem()
    assert "attachment" in r.headers["content-disposition"]
    assert len(await access_events(app, action="audit.public_key")) == 1


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("employee", "/console/audit/events"),
        ("employee", "/console/audit/events.csv"),
        ("dpo", "/console/audit/verify"),
        ("dpo", "/console/audit/public-key.pem"),
        ("legal", "/console/audit/events/1"),
        ("auditor", "/console/customers/access-report"),
    ],
)
async def test_the_policy_decides_each_page_and_refusals_are_logged(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    console_sign_in: SignIn,
    role: str,
    path: str,
) -> None:
    person = await issue(role)
    await console_sign_in(person.token)
    r = await client.get(path)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("text/html")
    assert "<code>role_not_permitted</code>" in r.text
    [refusal] = await access_events(app, outcome="denied", reason="role_not_permitted")
    assert str(refusal["principal_id"]) == person.principal_id
    assert refusal["request_id"].startswith("console:")


async def test_the_navigation_shows_the_rooms_the_role_may_use(
    client: httpx.AsyncClient, issue: TokenFactory, console_sign_in: SignIn
) -> None:
    dpo = await issue("dpo")
    await console_sign_in(dpo.token)
    html = (await client.get("/console/")).text
    assert 'href="/console/audit/events"' in html
    assert 'href="/console/customers/access-report"' in html
    assert 'href="/console/audit/verify"' not in html


async def test_a_customers_access_report_with_paging(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    console_sign_in: SignIn,
    make_customer: Any,
) -> None:
    customer = await make_customer()
    employee = await issue("employee")
    drafts = [EventDraft("customer.read", ALLOWED, customer_id=uuid.UUID(customer))] * 55
    await _write(app, _actor(employee, "employee"), *drafts)
    dpo = await issue("dpo")
    await console_sign_in(dpo.token)
    r = await client.get("/console/customers/access-report", params={"customer_id": customer})
    assert r.status_code == 200
    first = r.text.count('data-label="Ai">')
    assert first == 50
    assert "employee-principal" in r.text
    link = re.search(r'<a href="([^"]+)" rel="next">', r.text)
    assert link
    r = await client.get(link.group(1).replace("&amp;", "&"))
    # The creation, the 55 reads and the first page's own report event: 57.
    assert r.text.count('data-label="Ai">') == 57 - 50
    assert len(await access_events(app, action="customer.access_report")) == 2
    r = await client.get("/console/customers/access-report", params={"customer_id": "x"})
    assert r.status_code == 422
    r = await client.get(
        "/console/customers/access-report", params={"customer_id": str(uuid.uuid4())}
    )
    assert r.status_code == 404
