"""Consent (R7.1): append-only history, the current state, and what it opens and closes."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Issued, access_events
from tests.helpers import assert_problem
from tests.rights_fixtures import SubjectFactory, file_deletion


def consents(customer_id: str) -> str:
    return f"/v1/customers/{customer_id}/consents"


def body(kind: str, granted: bool, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "granted": granted,
        "source": "storefront_settings",
        "policy_version": "2024-01",
        **extra,
    }


async def read(client: httpx.AsyncClient, who: Issued, cid: str, purpose: str) -> httpx.Response:
    return await client.get(
        f"/v1/customers/{cid}", params={"purpose": purpose}, headers=who.headers
    )


async def test_registration_starts_the_history(
    client: httpx.AsyncClient, subject: SubjectFactory, shop: Issued, staff: Issued
) -> None:
    s = await subject(consents={"processing": True, "marketing": True})
    r = await client.get(consents(s.id), headers=staff.headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["current"] == {"processing": True, "marketing": True}
    assert {(h["kind"], h["granted"], h["source"]) for h in out["history"]} == {
        ("processing", True, "registration"),
        ("marketing", True, "registration"),
    }
    assert all(h["recorded_by"] == shop.principal_id for h in out["history"])
    assert all(h["policy_version"] == "2024-01" for h in out["history"])


async def test_recording_appends_and_never_rewrites(
    client: httpx.AsyncClient, subject: SubjectFactory, shop: Issued, dpo: Issued
) -> None:
    s = await subject()
    r = await client.post(consents(s.id), json=body("marketing", True), headers=shop.headers)
    assert r.status_code == 201, r.text
    assert r.json()["current"] == {"processing": True, "marketing": True}
    assert r.json()["recorded_by"] == shop.principal_id
    r = await client.post(
        consents(s.id),
        json=body("marketing", False, source="hotline", policy_version="2025-02"),
        headers=dpo.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["current"]["marketing"] is False
    history = (await client.get(consents(s.id), headers=dpo.headers)).json()["history"]
    marketing = [
        (h["granted"], h["source"], h["policy_version"])
        for h in history
        if h["kind"] == "marketing"
    ]
    assert marketing == [
        (False, "registration", "2024-01"),
        (True, "storefront_settings", "2024-01"),
        (False, "hotline", "2025-02"),
    ]
    assert [h["recorded_at"] for h in history] == sorted(h["recorded_at"] for h in history)


async def test_marketing_reads_follow_the_marketing_consent(
    client: httpx.AsyncClient, subject: SubjectFactory, shop: Issued, staff: Issued
) -> None:
    s = await subject()
    assert_problem(await read(client, staff, s.id, "marketing"), 403, "consent_missing")
    await client.post(consents(s.id), json=body("marketing", True), headers=shop.headers)
    r = await read(client, staff, s.id, "marketing")
    assert r.status_code == 200, r.text
    assert set(r.json()["fields"]) == {"full_name", "email"}
    await client.post(consents(s.id), json=body("marketing", False), headers=shop.headers)
    assert_problem(await read(client, staff, s.id, "marketing"), 403, "consent_missing")


async def test_withdrawn_processing_leaves_only_the_legal_purposes(
    client: httpx.AsyncClient, subject: SubjectFactory, shop: Issued, staff: Issued, dpo: Issued
) -> None:
    s = await subject(consents={"processing": True, "marketing": True})
    r = await client.post(consents(s.id), json=body("processing", False), headers=shop.headers)
    assert r.status_code == 201, r.text
    for purpose in ("order_confirmation", "product_consultation", "marketing"):
        assert_problem(await read(client, staff, s.id, purpose), 403, "consent_withdrawn")
    assert (await read(client, shop, s.id, "customer_self_service")).status_code == 200
    # The dpo may act on an open data-subject request: a legal purpose (R7.1).
    assert_problem(await read(client, dpo, s.id, "data_subject_request"), 403, "no_open_case")
    await file_deletion(client, shop, s.id)
    r = await read(client, dpo, s.id, "data_subject_request")
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["email"] == s.body["email"]
    # Given again, the ordinary purposes open again.
    await client.post(consents(s.id), json=body("processing", True), headers=shop.headers)
    assert (await read(client, staff, s.id, "order_confirmation")).status_code == 200


async def test_roles_outside_the_contract_are_refused(
    client: httpx.AsyncClient, subject: SubjectFactory, staff: Issued, auditor: Issued
) -> None:
    s = await subject()
    assert_problem(
        await client.post(consents(s.id), json=body("marketing", True), headers=staff.headers),
        403,
        "role_not_permitted",
    )
    assert_problem(
        await client.get(consents(s.id), headers=auditor.headers), 403, "role_not_permitted"
    )
    r = await client.get(consents(s.id), headers=staff.headers)
    assert r.json()["current"]["marketing"] is False


async def test_bad_input_is_422_and_changes_nothing(
    client: httpx.AsyncClient, subject: SubjectFactory, shop: Issued
) -> None:
    s = await subject()
    before = (await client.get(consents(s.id), headers=shop.headers)).json()["history"]
    for bad in (
        body("newsletter", True),
        body("marketing", "yes please"),
        # Coercible look-alikes of a boolean are not a recorded choice (like registration's).
        body("marketing", "yes"),
        body("marketing", "true"),
        body("marketing", 1),
        body("processing", 0),
        body("marketing", True, source="the customer said so"),
        body("marketing", True, policy_version=""),
        body("marketing", True, recorded_at="2020-01-01T00:00:00Z"),
        {"kind": "marketing", "granted": True},
    ):
        assert_problem(
            await client.post(consents(s.id), json=bad, headers=shop.headers), 422, errors=True
        )
    after = (await client.get(consents(s.id), headers=shop.headers)).json()["history"]
    assert after == before


async def test_unknown_customer_is_404_and_logged(
    client: httpx.AsyncClient, app: Any, shop: Issued
) -> None:
    missing = "0193a5b0-7e2c-7d11-8c4a-5f0e0000dead"
    assert_problem(await client.get(consents(missing), headers=shop.headers), 404)
    r = await client.post(consents(missing), json=body("marketing", True), headers=shop.headers)
    assert_problem(r, 404)
    events = await access_events(app, customer_id=missing)
    assert [(e["action"], e["outcome"], e["reason"]) for e in events] == [
        ("consent.read", "denied", "not_found"),
        ("consent.record", "denied", "not_found"),
    ]


async def test_each_change_is_one_event_without_values(
    client: httpx.AsyncClient, app: Any, subject: SubjectFactory, shop: Issued
) -> None:
    s = await subject()
    await client.post(consents(s.id), json=body("marketing", True), headers=shop.headers)
    events = await access_events(app, customer_id=s.id, action="consent.record")
    assert len(events) == 1
    assert events[0]["outcome"] == "allowed"
    assert events[0]["basis"] == "consent:marketing:granted"
    assert events[0]["fields"] == []
