"""Filing, listing and deciding judicial requests (docs/api.md "Judicial requests",
docs/policy.md R2.3)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Issued, TokenFactory
from tests.helpers import assert_problem
from tests.judicial.conftest import (
    BASE,
    FileFactory,
    PersonFactory,
    approved,
    decide,
    error_locs,
    expire,
    iso,
    judicial_events,
    request_body,
)

# -- filing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("filer_role", ["legal", "dpo"])
async def test_filing_returns_a_submitted_unexpired_request(
    client: httpx.AsyncClient, app: Any, issue: TokenFactory, person: PersonFactory, filer_role: str
) -> None:
    filer = await issue(filer_role, f"filer-{filer_role}")
    a, b = await person(), await person()
    valid_until = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    body = request_body(
        [b.id, a.id],
        authority_type="court",
        fields=["email", "full_name"],
        valid_until=iso(valid_until),
    )
    r = await client.post(BASE, json=body, headers=filer.headers)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["status"] == "submitted"
    assert out["expired"] is False
    for key in ("authority_name", "document_number", "document_date", "legal_basis"):
        assert out[key] == body[key]
    assert out["case_reference"] == body["case_reference"]
    assert out["authority_type"] == "court"
    assert sorted(out["customer_ids"]) == sorted([a.id, b.id])
    assert sorted(out["fields"]) == ["email", "full_name"]
    assert datetime.fromisoformat(out["valid_until"]) == valid_until
    assert out["filed_by"] == filer.principal_id
    assert out["decided_by"] is None
    assert out["decided_at"] is None
    assert out["rejection_reason"] is None
    uuid.UUID(out["id"])

    r = await client.get(f"{BASE}/{out['id']}", headers=filer.headers)
    assert r.status_code == 200, r.text
    assert r.json() == out

    filed = await judicial_events(app, action="judicial.file")
    assert len(filed) == 1
    assert filed[0]["outcome"] == "allowed"
    assert filed[0]["basis"] == f"judicial_request:{out['id']}"
    assert str(filed[0]["principal_id"]) == filer.principal_id
    assert filed[0]["role"] == filer_role


@pytest.mark.parametrize("authority_type", ["procuracy", "court", "police_investigation"])
async def test_every_authority_type_is_accepted(
    client: httpx.AsyncClient, legal: Issued, person: PersonFactory, authority_type: str
) -> None:
    a = await person()
    r = await client.post(
        BASE, json=request_body([a.id], authority_type=authority_type), headers=legal.headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["authority_type"] == authority_type


async def test_filing_needs_a_token(client: httpx.AsyncClient, person: PersonFactory) -> None:
    a = await person()
    assert_problem(await client.post(BASE, json=request_body([a.id])), 401)


@pytest.mark.parametrize("role", ["employee", "storefront", "auditor"])
async def test_filing_by_other_roles_is_refused_and_logged(
    client: httpx.AsyncClient, app: Any, issue: TokenFactory, person: PersonFactory, role: str
) -> None:
    a = await person()
    who = await issue(role, f"not-a-filer-{role}")
    r = await client.post(BASE, json=request_body([a.id]), headers=who.headers)
    assert_problem(r, 403, "role_not_permitted")
    denied = await judicial_events(app, action="judicial.file", outcome="denied")
    assert [e["principal_id"] for e in denied] == [uuid.UUID(who.principal_id)]
    assert denied[0]["reason"] == "role_not_permitted"


async def test_admin_may_not_file(
    client: httpx.AsyncClient, admin: Issued, person: PersonFactory
) -> None:
    a = await person()
    r = await client.post(BASE, json=request_body([a.id]), headers=admin.headers)
    assert_problem(r, 403, "role_not_permitted")


async def _list_ids(client: httpx.AsyncClient, who: Issued, query: str = "") -> list[str]:
    r = await client.get(f"{BASE}{query}", headers=who.headers)
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()["items"]]


async def test_unknown_customers_are_named_by_index(
    client: httpx.AsyncClient, legal: Issued, person: PersonFactory
) -> None:
    a, b = await person(), await person()
    ghosts = [str(uuid.uuid4()), str(uuid.uuid4())]
    body = request_body([a.id, ghosts[0], b.id, ghosts[1]])
    problem = assert_problem(await client.post(BASE, json=body, headers=legal.headers), 422)
    assert sorted(error_locs(problem)) == [
        ["body", "customer_ids", "1"],
        ["body", "customer_ids", "3"],
    ]
    assert await _list_ids(client, legal) == []


async def test_unknown_customer_index_counts_repeated_ids(
    client: httpx.AsyncClient, legal: Issued, person: PersonFactory
) -> None:
    """The index is the position in the body sent, even when an id is repeated before it."""
    a = await person()
    body = request_body([a.id, a.id, str(uuid.uuid4())])
    problem = assert_problem(await client.post(BASE, json=body, headers=legal.headers), 422)
    assert error_locs(problem) == [["body", "customer_ids", "2"]]


async def test_repeated_customers_and_fields_are_named_once(
    client: httpx.AsyncClient, legal: Issued, person: PersonFactory
) -> None:
    a = await person()
    body = request_body([a.id, a.id], fields=["phone", "phone"])
    r = await client.post(BASE, json=body, headers=legal.headers)
    assert r.status_code == 201, r.text
    assert r.json()["customer_ids"] == [a.id]
    assert r.json()["fields"] == ["phone"]


@pytest.mark.parametrize(
    "valid_until",
    [
        iso(datetime.now(UTC) - timedelta(days=1)),
        "2020-01-01T00:00:00Z",
        "2026-01-01T00:00:00+07:00",
    ],
    # Named, not by value: a value made from the clock differs between xdist's workers.
    ids=["yesterday", "2020", "2026-new-year-in-hanoi"],
)
async def test_valid_until_must_be_in_the_future(
    client: httpx.AsyncClient, legal: Issued, person: PersonFactory, valid_until: str
) -> None:
    a = await person()
    body = request_body([a.id], valid_until=valid_until)
    problem = assert_problem(await client.post(BASE, json=body, headers=legal.headers), 422)
    assert any("valid_until" in loc for loc in error_locs(problem)), problem
    assert await _list_ids(client, legal) == []


def _bad_bodies() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("authority_type", {"authority_type": "ministry"}),
        ("authority_type", {"authority_type": "Court"}),
        ("authority_type", {"authority_type": ""}),
        ("fields", {"fields": ["national_id"]}),
        ("fields", {"fields": ["full_name", "password"]}),
        ("fields", {"fields": []}),
        ("customer_ids", {"customer_ids": []}),
        ("customer_ids", {"customer_ids": ["not-a-uuid"]}),
        ("authority_name", {"authority_name": "   "}),
        ("document_number", {"document_number": ""}),
        ("legal_basis", {"legal_basis": " "}),
        ("case_reference", {"case_reference": ""}),
        ("document_date", {"document_date": "hôm qua"}),
        ("valid_until", {"valid_until": "2099-01-01T00:00:00"}),  # no time zone
        ("extra", {"extra": "x"}),
    ]
    for key in (
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
        cases.append((key, {key: None}))
    return cases


@pytest.mark.parametrize(("name", "change"), _bad_bodies())
async def test_invalid_bodies_are_refused(
    client: httpx.AsyncClient,
    legal: Issued,
    person: PersonFactory,
    name: str,
    change: dict[str, Any],
) -> None:
    a = await person()
    body = request_body([a.id])
    for key, value in change.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    problem = assert_problem(await client.post(BASE, json=body, headers=legal.headers), 422)
    assert any(name in loc for loc in error_locs(problem)), problem
    assert await _list_ids(client, legal) == []


# -- reading and listing --------------------------------------------------------------------


async def test_legal_dpo_and_auditor_list_and_read(
    client: httpx.AsyncClient,
    legal: Issued,
    dpo_a: Issued,
    auditor: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> None:
    a = await person()
    filed = await file_request(legal, [a.id])
    for who in (legal, dpo_a, auditor):
        assert await _list_ids(client, who) == [filed["id"]]
        r = await client.get(f"{BASE}/{filed['id']}", headers=who.headers)
        assert r.status_code == 200, r.text
        assert r.json() == filed


@pytest.mark.parametrize("role", ["employee", "storefront"])
async def test_other_roles_may_not_list_or_read(
    client: httpx.AsyncClient,
    issue: TokenFactory,
    legal: Issued,
    person: PersonFactory,
    file_request: FileFactory,
    role: str,
) -> None:
    a = await person()
    filed = await file_request(legal, [a.id])
    who = await issue(role, f"outsider-{role}")
    r = await client.get(BASE, headers=who.headers)
    assert_problem(r, 403, "role_not_permitted")
    assert filed["id"] not in r.text
    assert a.id not in r.text
    r = await client.get(f"{BASE}/{filed['id']}", headers=who.headers)
    assert_problem(r, 403, "role_not_permitted")
    assert a.id not in r.text


async def test_admin_may_not_read_requests(
    client: httpx.AsyncClient,
    admin: Issued,
    legal: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> None:
    a = await person()
    filed = await file_request(legal, [a.id])
    assert_problem(await client.get(BASE, headers=admin.headers), 403, "role_not_permitted")
    r = await client.get(f"{BASE}/{filed['id']}", headers=admin.headers)
    assert_problem(r, 403, "role_not_permitted")


async def test_reading_needs_a_token(
    client: httpx.AsyncClient, legal: Issued, person: PersonFactory, file_request: FileFactory
) -> None:
    a = await person()
    filed = await file_request(legal, [a.id])
    assert_problem(await client.get(BASE), 401)
    assert_problem(await client.get(f"{BASE}/{filed['id']}"), 401)


async def test_unknown_request_is_404(client: httpx.AsyncClient, dpo_a: Issued) -> None:
    missing = uuid.uuid4()
    assert_problem(await client.get(f"{BASE}/{missing}", headers=dpo_a.headers), 404)
    assert_problem(await client.post(f"{BASE}/{missing}/approve", headers=dpo_a.headers), 404)
    r = await client.post(f"{BASE}/{missing}/reject", json={"reason": "x"}, headers=dpo_a.headers)
    assert_problem(r, 404)
    assert_problem(await client.get(f"{BASE}/not-a-uuid", headers=dpo_a.headers), 422)


async def test_list_pages_through_every_request_once(
    client: httpx.AsyncClient, legal: Issued, person: PersonFactory, file_request: FileFactory
) -> None:
    a = await person()
    filed = [(await file_request(legal, [a.id]))["id"] for _ in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        r = await client.get(BASE, params=params, headers=legal.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert pages == 3
    assert sorted(seen) == sorted(filed)
    assert len(set(seen)) == len(seen)


async def test_list_with_exactly_a_page_has_no_next_cursor(
    client: httpx.AsyncClient, legal: Issued, person: PersonFactory, file_request: FileFactory
) -> None:
    a = await person()
    for _ in range(2):
        await file_request(legal, [a.id])
    r = await client.get(BASE, params={"limit": 2}, headers=legal.headers)
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) == 2
    assert r.json()["next_cursor"] is None


@pytest.mark.parametrize(
    "query",
    [
        "?cursor=%%%",
        "?cursor=bm90LWEtdXVpZA",
        "?limit=0",
        "?limit=501",
        "?status=pending",
        "?status=APPROVED",
    ],
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, legal: Issued, query: str
) -> None:
    assert_problem(await client.get(f"{BASE}{query}", headers=legal.headers), 422)


async def test_list_filters_by_status(
    client: httpx.AsyncClient,
    legal: Issued,
    dpo_a: Issued,
    auditor: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> None:
    a = await person()
    pending = (await file_request(legal, [a.id]))["id"]
    yes = (await file_request(legal, [a.id]))["id"]
    no = (await file_request(legal, [a.id]))["id"]
    await approved(client, dpo_a, yes)
    assert (await decide(client, dpo_a, no, approve=False)).status_code == 200
    for who in (legal, dpo_a, auditor):
        assert await _list_ids(client, who, "?status=submitted") == [pending]
        assert await _list_ids(client, who, "?status=approved") == [yes]
        assert await _list_ids(client, who, "?status=rejected") == [no]
        assert sorted(await _list_ids(client, who)) == sorted([pending, yes, no])
    r = await client.get(BASE, params={"status": "approved"}, headers=auditor.headers)
    assert r.json()["items"][0]["status"] == "approved"
    assert r.json()["items"][0]["decided_by"] == dpo_a.principal_id


# -- deciding -------------------------------------------------------------------------------


async def test_a_dpo_approves_a_request_filed_by_legal(
    client: httpx.AsyncClient,
    app: Any,
    legal: Issued,
    dpo_a: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> None:
    a = await person()
    filed = await file_request(legal, [a.id])
    before = datetime.now(UTC)
    out = await approved(client, dpo_a, filed["id"])
    assert out["id"] == filed["id"]
    assert out["decided_by"] == dpo_a.principal_id
    assert out["filed_by"] == legal.principal_id
    assert datetime.fromisoformat(out["decided_at"]) >= before - timedelta(seconds=1)
    assert out["rejection_reason"] is None
    assert out["expired"] is False
    r = await client.get(f"{BASE}/{filed['id']}", headers=legal.headers)
    assert r.json()["status"] == "approved"
    assert r.json()["decided_by"] == dpo_a.principal_id
    events = await judicial_events(app, action="judicial.approve")
    assert len(events) == 1
    assert events[0]["outcome"] == "allowed"
    assert events[0]["basis"] == f"judicial_request:{filed['id']}"
    assert str(events[0]["principal_id"]) == dpo_a.principal_id


async def test_a_dpo_approves_a_request_filed_by_another_dpo(
    client: httpx.AsyncClient,
    dpo_a: Issued,
    dpo_b: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> None:
    a = await person()
    filed = await file_request(dpo_a, [a.id])
    out = await approved(client, dpo_b, filed["id"])
    assert out["filed_by"] == dpo_a.principal_id
    assert out["decided_by"] == dpo_b.principal_id


@pytest.mark.parametrize("approve", [True, False])
async def test_a_dpo_may_not_decide_its_own_request(
    client: httpx.AsyncClient,
    app: Any,
    dpo_a: Issued,
    dpo_b: Issued,
    person: PersonFactory,
    file_request: FileFactory,
    approve: bool,
) -> None:
    a = await person()
    filed = await file_request(dpo_a, [a.id])
    r = await decide(client, dpo_a, filed["id"], approve=approve)
    assert_problem(r, 409, "four_eyes")
    action = "judicial.approve" if approve else "judicial.reject"
    denied = await judicial_events(app, action=action)
    assert len(denied) == 1
    assert denied[0]["outcome"] == "denied"
    assert denied[0]["reason"] == "four_eyes"
    assert str(denied[0]["principal_id"]) == dpo_a.principal_id
    assert denied[0]["basis"] == f"judicial_request:{filed['id']}"
    r = await client.get(f"{BASE}/{filed['id']}", headers=dpo_b.headers)
    assert r.json()["status"] == "submitted"
    assert r.json()["decided_by"] is None
    # the other DPO still may
    r = await decide(client, dpo_b, filed["id"], approve=approve)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == ("approved" if approve else "rejected")


@pytest.mark.parametrize("approve", [True, False])
async def test_legal_may_not_decide(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    legal: Issued,
    person: PersonFactory,
    file_request: FileFactory,
    approve: bool,
) -> None:
    a = await person()
    filed = await file_request(legal, [a.id])
    other_legal = await issue("legal", "another-legal-officer")
    for who in (legal, other_legal):
        assert_problem(await decide(client, who, filed["id"], approve), 403, "role_not_permitted")
    r = await client.get(f"{BASE}/{filed['id']}", headers=legal.headers)
    assert r.json()["status"] == "submitted"
    denied = await judicial_events(app, action="judicial.decide", outcome="denied")
    assert len(denied) == 2
    assert {e["reason"] for e in denied} == {"role_not_permitted"}


@pytest.mark.parametrize("role", ["auditor", "employee", "storefront"])
async def test_other_roles_may_not_decide(
    client: httpx.AsyncClient,
    issue: TokenFactory,
    legal: Issued,
    person: PersonFactory,
    file_request: FileFactory,
    role: str,
) -> None:
    a = await person()
    filed = await file_request(legal, [a.id])
    who = await issue(role, f"not-a-dpo-{role}")
    for approve in (True, False):
        assert_problem(await decide(client, who, filed["id"], approve), 403, "role_not_permitted")
    r = await client.post(f"{BASE}/{filed['id']}/approve")
    assert_problem(r, 401)


async def test_reject_records_the_reason(
    client: httpx.AsyncClient,
    app: Any,
    legal: Issued,
    dpo_a: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> None:
    a = await person()
    filed = await file_request(legal, [a.id])
    reason = "Quyết định thiếu chữ ký và con dấu (mẫu)"
    r = await client.post(
        f"{BASE}/{filed['id']}/reject", json={"reason": reason}, headers=dpo_a.headers
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] == "rejected"
    assert out["rejection_reason"] == reason
    assert out["decided_by"] == dpo_a.principal_id
    assert out["decided_at"] is not None
    r = await client.get(f"{BASE}/{filed['id']}", headers=legal.headers)
    assert r.json()["rejection_reason"] == reason
    events = await judicial_events(app, action="judicial.reject")
    assert [e["outcome"] for e in events] == ["allowed"]


@pytest.mark.parametrize("body", [None, {}, {"reason": ""}, {"reason": "   "}, {"why": "x"}])
async def test_reject_needs_a_reason(
    client: httpx.AsyncClient,
    legal: Issued,
    dpo_a: Issued,
    person: PersonFactory,
    file_request: FileFactory,
    body: dict[str, Any] | None,
) -> None:
    a = await person()
    filed = await file_request(legal, [a.id])
    r = await client.post(f"{BASE}/{filed['id']}/reject", json=body, headers=dpo_a.headers)
    assert_problem(r, 422)
    r = await client.get(f"{BASE}/{filed['id']}", headers=legal.headers)
    assert r.json()["status"] == "submitted"


@pytest.mark.parametrize(
    ("first", "second"),
    [(True, True), (True, False), (False, True), (False, False)],
)
async def test_only_a_submitted_request_is_decided(
    client: httpx.AsyncClient,
    legal: Issued,
    dpo_a: Issued,
    dpo_b: Issued,
    person: PersonFactory,
    file_request: FileFactory,
    first: bool,
    second: bool,
) -> None:
    a = await person()
    filed = await file_request(legal, [a.id])
    r = await decide(client, dpo_a, filed["id"], approve=first)
    assert r.status_code == 200, r.text
    decided = r.json()
    for who in (dpo_a, dpo_b):
        assert_problem(await decide(client, who, filed["id"], second), 409, "invalid_transition")
    r = await client.get(f"{BASE}/{filed['id']}", headers=legal.headers)
    assert r.json() == decided


async def test_an_expired_request_cannot_be_approved(
    client: httpx.AsyncClient,
    app: Any,
    legal: Issued,
    dpo_a: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> None:
    a = await person()
    filed = await file_request(legal, [a.id])
    await expire(app, filed["id"])
    r = await client.get(f"{BASE}/{filed['id']}", headers=dpo_a.headers)
    assert r.json()["expired"] is True
    assert r.json()["status"] == "submitted"
    assert_problem(await decide(client, dpo_a, filed["id"]), 409, "request_expired")
    r = await client.get(f"{BASE}/{filed['id']}", headers=dpo_a.headers)
    assert r.json()["status"] == "submitted"
    assert r.json()["decided_by"] is None


async def test_an_approved_request_reports_expiry(
    client: httpx.AsyncClient,
    app: Any,
    legal: Issued,
    dpo_a: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> None:
    a = await person()
    filed = await file_request(legal, [a.id])
    await approved(client, dpo_a, filed["id"])
    await expire(app, filed["id"])
    r = await client.get(f"{BASE}/{filed['id']}", headers=legal.headers)
    assert r.json()["status"] == "approved"
    assert r.json()["expired"] is True
    r = await client.get(BASE, params={"status": "approved"}, headers=legal.headers)
    assert [(i["id"], i["expired"]) for i in r.json()["items"]] == [(filed["id"], True)]
