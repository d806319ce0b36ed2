"""GET /v1/judicial-requests/{id}/disclosure: only approved, unexpired requests; only the named
customers and fields; one access event per customer disclosed, citing the request (R2.3)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Issued, TokenFactory
from tests.helpers import assert_problem
from tests.judicial.conftest import (
    BASE,
    FileFactory,
    Person,
    PersonFactory,
    approved,
    assert_no_values,
    decide,
    expire,
    judicial_events,
    mark_erased,
)

ALL = ["full_name", "phone", "email", "address"]


@dataclass
class Case:
    request: dict[str, Any]
    named: list[Person]
    stranger: Person

    @property
    def url(self) -> str:
        return f"{BASE}/{self.request['id']}/disclosure"

    @property
    def basis(self) -> str:
        return f"judicial_request:{self.request['id']}"

    @property
    def everyone(self) -> list[Person]:
        return [*self.named, self.stranger]


@pytest.fixture
async def case(
    client: httpx.AsyncClient,
    legal: Issued,
    dpo_a: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> Case:
    """An approved request (filed by legal, approved by dpo-a) naming two of three customers,
    for full_name and phone."""
    a = await person("Nguyễn Văn Mẫu")
    b = await person("Lê Thị Thử")
    stranger = await person("Phạm Văn Người Ngoài")
    filed = await file_request(legal, [a.id, b.id], fields=["phone", "full_name"])
    await approved(client, dpo_a, filed["id"])
    return Case(filed, [a, b], stranger)


def _disclosed(body: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {c["id"]: c["fields"] for c in body["customers"]}


async def _disclose_events(app: Any, **where: Any) -> list[dict[str, Any]]:
    return await judicial_events(app, action="judicial.disclose", **where)


async def test_legal_gets_the_named_customers_named_fields(
    client: httpx.AsyncClient, app: Any, legal: Issued, case: Case
) -> None:
    r = await client.get(case.url, headers=legal.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["request"]["id"] == case.request["id"]
    assert body["request"]["status"] == "approved"
    assert body["request"]["expired"] is False
    assert body["withheld"] == []
    assert _disclosed(body) == {
        p.id: {"full_name": p.stored["full_name"], "phone": p.stored["phone"]} for p in case.named
    }
    assert len(body["customers"]) == 2
    # nothing of the customer the request does not name, nor of unnamed fields
    for p in case.named:
        assert p.stored["email"] not in r.text
        assert p.stored["address"] not in r.text
    assert case.stranger.stored["full_name"] not in r.text
    assert case.stranger.stored["phone"] not in r.text

    events = await _disclose_events(app)
    assert sorted(str(e["customer_id"]) for e in events) == sorted(p.id for p in case.named)
    for e in events:
        assert e["outcome"] == "allowed"
        assert e["purpose"] == "judicial_disclosure"
        assert e["basis"] == case.basis
        assert sorted(e["fields"]) == ["full_name", "phone"]
        assert e["role"] == "legal"
        assert str(e["principal_id"]) == legal.principal_id
        assert e["reason"] is None


@pytest.mark.parametrize("second", [False, True])
async def test_a_dpo_may_disclose_and_is_logged_as_dpo(
    client: httpx.AsyncClient, app: Any, dpo_a: Issued, dpo_b: Issued, case: Case, second: bool
) -> None:
    caller = dpo_b if second else dpo_a  # dpo-a approved the request; dpo-b did not touch it
    r = await client.get(case.url, headers=caller.headers)
    assert r.status_code == 200, r.text
    assert set(_disclosed(r.json())) == {p.id for p in case.named}
    events = await _disclose_events(app)
    assert len(events) == 2
    assert {e["role"] for e in events} == {"dpo"}
    assert {str(e["principal_id"]) for e in events} == {caller.principal_id}


async def test_every_disclosure_is_logged_again(
    client: httpx.AsyncClient, app: Any, legal: Issued, case: Case
) -> None:
    for _ in range(3):
        assert (await client.get(case.url, headers=legal.headers)).status_code == 200
    events = await _disclose_events(app)
    assert len(events) == 6
    for p in case.named:
        assert len([e for e in events if str(e["customer_id"]) == p.id]) == 3


async def test_all_four_fields_are_disclosed_normalised(
    client: httpx.AsyncClient,
    app: Any,
    legal: Issued,
    dpo_b: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> None:
    people = [await person("Hoàng Thị Thu Mẫu") for _ in range(3)]
    filed = await file_request(legal, [p.id for p in people], fields=list(reversed(ALL)))
    await approved(client, dpo_b, filed["id"])
    r = await client.get(f"{BASE}/{filed['id']}/disclosure", headers=legal.headers)
    assert r.status_code == 200, r.text
    assert _disclosed(r.json()) == {p.id: p.stored for p in people}
    for p in people:
        assert p.stored["phone"].startswith("+84")
        assert p.sent["phone"] != p.stored["phone"]
    events = await _disclose_events(app)
    assert len(events) == 3
    assert {len(e["fields"]) for e in events} == {4}
    assert all(sorted(e["fields"]) == sorted(ALL) for e in events)


async def test_one_named_customer_by_customer_id(
    client: httpx.AsyncClient, app: Any, legal: Issued, case: Case
) -> None:
    a, b = case.named
    r = await client.get(case.url, params={"customer_id": b.id}, headers=legal.headers)
    assert r.status_code == 200, r.text
    assert _disclosed(r.json()) == {
        b.id: {"full_name": b.stored["full_name"], "phone": b.stored["phone"]}
    }
    assert a.stored["phone"] not in r.text
    events = await _disclose_events(app)
    assert [(str(e["customer_id"]), e["outcome"]) for e in events] == [(b.id, "allowed")]


async def test_a_subset_of_the_named_fields(
    client: httpx.AsyncClient, app: Any, legal: Issued, case: Case
) -> None:
    r = await client.get(case.url, params={"fields": "phone"}, headers=legal.headers)
    assert r.status_code == 200, r.text
    assert _disclosed(r.json()) == {p.id: {"phone": p.stored["phone"]} for p in case.named}
    for p in case.named:
        assert p.stored["full_name"] not in r.text
    events = await _disclose_events(app)
    assert len(events) == 2
    assert all(e["fields"] == ["phone"] for e in events)
    assert all(e["basis"] == case.basis for e in events)


async def test_customer_and_fields_together(
    client: httpx.AsyncClient, app: Any, dpo_b: Issued, case: Case
) -> None:
    a = case.named[0]
    r = await client.get(
        case.url, params={"customer_id": a.id, "fields": "full_name"}, headers=dpo_b.headers
    )
    assert r.status_code == 200, r.text
    assert _disclosed(r.json()) == {a.id: {"full_name": a.stored["full_name"]}}
    events = await _disclose_events(app)
    assert [(str(e["customer_id"]), e["fields"], e["role"]) for e in events] == [
        (a.id, ["full_name"], "dpo")
    ]


async def _assert_denied(
    r: httpx.Response, app: Any, case: Case, reason: str, who: Issued
) -> list[dict[str, Any]]:
    """A 403 with the reason, no personal value in it, logged, and nothing disclosed."""
    assert_problem(r, 403, reason)
    assert_no_values(r, case.everyone)
    events = await _disclose_events(app)
    assert events, "the denial was not logged"
    assert all(e["outcome"] == "denied" for e in events), events
    assert {e["reason"] for e in events} == {reason}
    assert {str(e["principal_id"]) for e in events} == {who.principal_id}
    return events


async def test_a_customer_not_named_is_out_of_scope(
    client: httpx.AsyncClient, app: Any, legal: Issued, case: Case
) -> None:
    r = await client.get(case.url, params={"customer_id": case.stranger.id}, headers=legal.headers)
    events = await _assert_denied(r, app, case, "out_of_scope", legal)
    assert [str(e["customer_id"]) for e in events] == [case.stranger.id]
    assert events[0]["basis"] == case.basis
    assert events[0]["purpose"] == "judicial_disclosure"


async def test_an_unknown_customer_is_out_of_scope(
    client: httpx.AsyncClient, app: Any, dpo_a: Issued, case: Case
) -> None:
    ghost = str(uuid.uuid4())
    r = await client.get(case.url, params={"customer_id": ghost}, headers=dpo_a.headers)
    await _assert_denied(r, app, case, "out_of_scope", dpo_a)


@pytest.mark.parametrize(
    "fields", ["email", "address", "full_name,email", "phone,address", ",".join(ALL)]
)
async def test_a_field_not_named_is_out_of_scope(
    client: httpx.AsyncClient, app: Any, legal: Issued, case: Case, fields: str
) -> None:
    r = await client.get(case.url, params={"fields": fields}, headers=legal.headers)
    await _assert_denied(r, app, case, "out_of_scope", legal)
    r = await client.get(
        case.url,
        params={"fields": fields, "customer_id": case.named[0].id},
        headers=legal.headers,
    )
    assert_problem(r, 403, "out_of_scope")
    assert_no_values(r, case.everyone)


@pytest.mark.parametrize("fields", ["national_id", "phone,password", "", "phone,,email"])
async def test_an_unknown_field_name_is_422(
    client: httpx.AsyncClient, app: Any, legal: Issued, case: Case, fields: str
) -> None:
    r = await client.get(case.url, params={"fields": fields}, headers=legal.headers)
    assert_problem(r, 422)
    assert_no_values(r, case.everyone)
    assert await _disclose_events(app, outcome="allowed") == []


async def test_a_submitted_request_discloses_nothing(
    client: httpx.AsyncClient,
    app: Any,
    legal: Issued,
    dpo_a: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> None:
    a, stranger = await person(), await person()
    filed = await file_request(legal, [a.id])
    case = Case(filed, [a], stranger)
    for who in (legal, dpo_a):
        r = await client.get(case.url, headers=who.headers)
        assert_problem(r, 403, "request_not_approved")
        assert_no_values(r, case.everyone)
        r = await client.get(case.url, params={"customer_id": a.id}, headers=who.headers)
        assert_problem(r, 403, "request_not_approved")
    events = await _disclose_events(app)
    assert len(events) == 4
    assert {e["outcome"] for e in events} == {"denied"}
    assert {e["reason"] for e in events} == {"request_not_approved"}
    assert {e["basis"] for e in events} == {case.basis}


async def test_a_rejected_request_discloses_nothing(
    client: httpx.AsyncClient,
    app: Any,
    legal: Issued,
    dpo_a: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> None:
    a, stranger = await person(), await person()
    filed = await file_request(legal, [a.id], fields=ALL)
    assert (await decide(client, dpo_a, filed["id"], approve=False)).status_code == 200
    case = Case(filed, [a], stranger)
    r = await client.get(case.url, headers=legal.headers)
    await _assert_denied(r, app, case, "request_not_approved", legal)


async def test_an_expired_request_discloses_nothing(
    client: httpx.AsyncClient, app: Any, legal: Issued, dpo_b: Issued, case: Case
) -> None:
    assert (await client.get(case.url, headers=legal.headers)).status_code == 200
    before = len(await _disclose_events(app))
    await expire(app, case.request["id"])
    for who in (legal, dpo_b):
        r = await client.get(case.url, headers=who.headers)
        assert_problem(r, 403, "request_expired")
        assert_no_values(r, case.everyone)
        r = await client.get(
            case.url, params={"customer_id": case.named[0].id}, headers=who.headers
        )
        assert_problem(r, 403, "request_expired")
        assert_no_values(r, case.everyone)
    events = (await _disclose_events(app))[before:]
    assert len(events) == 4
    assert {(e["outcome"], e["reason"]) for e in events} == {("denied", "request_expired")}


async def test_auditor_may_not_disclose(
    client: httpx.AsyncClient, app: Any, auditor: Issued, case: Case
) -> None:
    r = await client.get(case.url, headers=auditor.headers)
    await _assert_denied(r, app, case, "role_not_permitted", auditor)


@pytest.mark.parametrize("role", ["employee", "storefront"])
async def test_other_roles_may_not_disclose(
    client: httpx.AsyncClient, app: Any, issue: TokenFactory, case: Case, role: str
) -> None:
    who = await issue(role, f"not-judicial-{role}")
    r = await client.get(case.url, headers=who.headers)
    await _assert_denied(r, app, case, "role_not_permitted", who)


async def test_admin_may_not_disclose(
    client: httpx.AsyncClient, app: Any, admin: Issued, case: Case
) -> None:
    r = await client.get(case.url, headers=admin.headers)
    await _assert_denied(r, app, case, "role_not_permitted", admin)


async def test_disclosure_needs_a_token(client: httpx.AsyncClient, app: Any, case: Case) -> None:
    r = await client.get(case.url)
    assert_problem(r, 401)
    assert_no_values(r, case.everyone)
    assert await _disclose_events(app, outcome="allowed") == []


async def test_unknown_request_is_404(
    client: httpx.AsyncClient, app: Any, legal: Issued, case: Case
) -> None:
    r = await client.get(f"{BASE}/{uuid.uuid4()}/disclosure", headers=legal.headers)
    assert_problem(r, 404)
    assert_no_values(r, case.everyone)
    assert await _disclose_events(app, outcome="allowed") == []


async def test_an_erased_customer_is_withheld(
    client: httpx.AsyncClient, app: Any, legal: Issued, case: Case
) -> None:
    a, b = case.named
    await mark_erased(app, b.id)
    r = await client.get(case.url, headers=legal.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert _disclosed(body) == {
        a.id: {"full_name": a.stored["full_name"], "phone": a.stored["phone"]}
    }
    assert body["withheld"] == [{"id": b.id, "reason": "erased"}]
    events = await _disclose_events(app, outcome="allowed")
    assert [str(e["customer_id"]) for e in events] == [a.id]
