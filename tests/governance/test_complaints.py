"""Complaints (R1.2, R6.2, R7.4): filing, sealing, who sees the text, the state machine, the
history with measures and evidence, due dates and the overdue list, shredding."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from itertools import product
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from pdvault.crypto.envelope import decrypt_field
from pdvault.crypto.provider import WrappedKey
from pdvault.governance.cases import shred_customer_complaints
from pdvault.governance.models import Complaint, ComplaintTransition
from tests.conftest import Issued, access_events
from tests.governance.conftest import (
    COMPLAINTS,
    CONTACT,
    DESCRIPTION,
    MEASURES,
    NOTE,
    FileComplaint,
    ago,
    complaint_body,
    governance_events,
    move,
    moved,
    set_complaint,
)
from tests.helpers import assert_problem
from tests.judicial.conftest import mark_erased

STATES = ["received", "investigating", "upheld", "rejected", "closed"]
LEGAL = {
    ("received", "investigating"),
    ("investigating", "upheld"),
    ("investigating", "rejected"),
    ("upheld", "closed"),
    ("rejected", "closed"),
}
# The shortest legal path from received to each state.
PATH = {
    "received": [],
    "investigating": ["investigating"],
    "upheld": ["investigating", "upheld"],
    "rejected": ["investigating", "rejected"],
    "closed": ["investigating", "upheld", "closed"],
}
SECRETS = [DESCRIPTION, CONTACT, NOTE, MEASURES, "Zyxwq", "zyxwq"]


async def _row(app: Any, complaint_id: str) -> Complaint:
    async with app.state.runtime.sessions() as session:
        row = await session.get(Complaint, uuid.UUID(complaint_id))
        assert row is not None
        return row


@pytest.mark.parametrize("role", ["storefront", "employee", "dpo"])
async def test_filing_answers_received_with_a_due_date_30_days_out(
    client: httpx.AsyncClient, issue: Any, make_customer: Any, app: Any, role: str
) -> None:
    who = await issue(role, f"filer-{role}")
    cid = await make_customer()
    r = await client.post(COMPLAINTS, json=complaint_body(cid), headers=who.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "received"
    assert body["customer_id"] == cid
    assert body["overdue"] is False
    received = _dt(body["received_at"])
    assert _dt(body["due_at"]) - received == timedelta(days=30)
    # Only the DPO gets the free text back; nobody else reads complaint material.
    if role == "dpo":
        assert (body["description"], body["contact"]) == (DESCRIPTION, CONTACT)
    else:
        assert body["description"] is None
        assert body["contact"] is None
        assert "Zyxwq" not in r.text
    [event] = await governance_events(app, "complaint.file")
    assert event["outcome"] == "allowed"
    assert str(event["customer_id"]) == cid
    assert event["basis"] == f"complaint:{body['id']}"


def _dt(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_complaint_without_a_customer_is_accepted(file_complaint: FileComplaint) -> None:
    body = await file_complaint(None, contact=None, channel="letter", category="other")
    assert body["customer_id"] is None
    assert body["contact"] is None


async def test_text_is_sealed_under_the_complaints_own_key_bound_to_its_id(
    app: Any, file_complaint: FileComplaint, make_customer: Any
) -> None:
    cid = await make_customer()
    one = await file_complaint(cid)
    two = await file_complaint(cid, description="Zyxwq nội dung khác")
    a, b = await _row(app, one["id"]), await _row(app, two["id"])
    for row in (a, b):
        assert row.wrapped_dek
        assert row.kek_version
        assert row.description_ct
        assert row.contact_ct
        for blob in (row.description_ct, row.contact_ct, row.wrapped_dek):
            assert b"Zyxwq" not in blob
            assert b"zyxwq" not in blob
    assert a.wrapped_dek != b.wrapped_dek  # one data key per complaint
    keys = app.state.runtime.keys
    key_a = await keys.unwrap_data_key(WrappedKey(a.kek_version, a.wrapped_dek), a.id)
    assert decrypt_field(key_a, a.id, "description", a.description_ct) == DESCRIPTION
    # Moved to the other complaint, or to the other column, it no longer opens.
    from pdvault.crypto.envelope import DecryptionError

    with pytest.raises(DecryptionError):
        decrypt_field(key_a, b.id, "description", a.description_ct)
    with pytest.raises(DecryptionError):
        decrypt_field(key_a, a.id, "contact", a.description_ct)


async def test_a_ciphertext_swapped_between_complaints_is_a_503_not_a_disclosure(
    app: Any, client: httpx.AsyncClient, dpo: Issued, file_complaint: FileComplaint
) -> None:
    one, two = await file_complaint(), await file_complaint(description="Zyxwq khác")
    b = await _row(app, two["id"])
    await set_complaint(app, one["id"], description_ct=b.description_ct)
    r = await client.get(f"{COMPLAINTS}/{one['id']}", headers=dpo.headers)
    assert_problem(r, 503)
    assert "Zyxwq" not in r.text
    denied = await governance_events(app, "complaint.read", outcome="denied")
    assert [e["reason"] for e in denied] == ["integrity_failure"]


async def test_unknown_customer_is_404_and_erased_is_410_both_logged(
    app: Any, client: httpx.AsyncClient, shop: Issued, make_customer: Any
) -> None:
    ghost = str(uuid.uuid4())
    r = await client.post(COMPLAINTS, json=complaint_body(ghost), headers=shop.headers)
    assert_problem(r, 404)
    erased = await make_customer()
    await mark_erased(app, erased)
    r = await client.post(COMPLAINTS, json=complaint_body(erased), headers=shop.headers)
    assert_problem(r, 410)
    denied = await governance_events(app, "complaint.file", outcome="denied")
    assert [(str(e["customer_id"]), e["reason"]) for e in denied] == [
        (ghost, "not_found"),
        (erased, "erased"),
    ]
    async with app.state.runtime.sessions() as session:
        assert (await session.scalars(select(Complaint))).all() == []


@pytest.mark.parametrize(
    ("over", "loc"),
    [
        ({"category": "spam"}, "category"),
        ({"channel": "carrier_pigeon"}, "channel"),
        ({"description": ""}, "description"),
        ({"description": "x" * 5001}, "description"),
        ({"contact": "x" * 501}, "contact"),
        ({"customer_id": "not-a-uuid"}, "customer_id"),
        ({"status": "closed"}, "status"),
    ],
)
async def test_invalid_bodies_are_422_naming_the_field_never_the_value(
    client: httpx.AsyncClient, shop: Issued, over: dict[str, Any], loc: str
) -> None:
    r = await client.post(COMPLAINTS, json=complaint_body(**over), headers=shop.headers)
    body = assert_problem(r, 422)
    assert any(loc in e["loc"] for e in body["errors"]), body
    assert "Zyxwq" not in r.text


@pytest.mark.parametrize(
    "category", ["misuse", "unauthorized_access", "security_report", "data_accuracy", "other"]
)
async def test_every_category_of_api_md_is_accepted(
    file_complaint: FileComplaint, category: str
) -> None:
    assert (await file_complaint(category=category))["category"] == category


async def test_the_auditor_sees_metadata_only_and_the_dpo_the_text(
    app: Any,
    client: httpx.AsyncClient,
    dpo: Issued,
    auditor: Issued,
    file_complaint: FileComplaint,
    make_customer: Any,
) -> None:
    cid = await make_customer()
    c = await file_complaint(cid)
    await moved(client, dpo, c["id"], "investigating")
    r = await move(client, dpo, c["id"], "upheld", measures=MEASURES)
    assert r.status_code == 200, r.text

    seen = await client.get(f"{COMPLAINTS}/{c['id']}", headers=auditor.headers)
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["description"] is None
    assert body["contact"] is None
    assert [(h["from_status"], h["to_status"]) for h in body["history"]] == [
        ("received", "investigating"),
        ("investigating", "upheld"),
    ]
    assert all(h["note"] is None and h["measures"] is None for h in body["history"])
    assert body["history"][1]["measures_recorded"] is True
    for secret in SECRETS:
        assert secret not in seen.text
        assert secret not in json.dumps(body, ensure_ascii=False)
    listed = await client.get(COMPLAINTS, headers=auditor.headers)
    assert listed.status_code == 200
    assert "Zyxwq" not in listed.text
    assert "zyxwq" not in listed.text

    full = (await client.get(f"{COMPLAINTS}/{c['id']}", headers=dpo.headers)).json()
    assert (full["description"], full["contact"]) == (DESCRIPTION, CONTACT)
    assert [h["note"] for h in full["history"]] == [NOTE, NOTE]
    assert full["history"][1]["measures"] == MEASURES

    reads = await governance_events(app, "complaint.read")
    assert [(e["role"], e["fields"]) for e in reads] == [
        ("auditor", []),
        ("dpo", ["description", "contact"]),
    ]
    assert all(str(e["customer_id"]) == cid for e in reads)
    assert all(e["basis"] == f"complaint:{c['id']}" for e in reads)


async def test_every_move_outside_the_state_machine_is_409_and_logged(
    app: Any, client: httpx.AsyncClient, dpo: Issued, file_complaint: FileComplaint
) -> None:
    for start, to in product(STATES, STATES):
        c = await file_complaint()
        await moved(client, dpo, c["id"], *PATH[start])
        r = await move(client, dpo, c["id"], to)
        if (start, to) in LEGAL:
            assert r.status_code == 200, (start, to, r.text)
            assert r.json()["status"] == to
            continue
        assert_problem(r, 409, "invalid_transition")
        after = (await client.get(f"{COMPLAINTS}/{c['id']}", headers=dpo.headers)).json()
        assert after["status"] == start, (start, to)
        assert len(after["history"]) == len(PATH[start])
    denied = await governance_events(app, "complaint.transition", outcome="denied")
    assert len(denied) == 25 - len(LEGAL)
    assert {e["reason"] for e in denied} == {"invalid_transition"}


async def test_the_history_keeps_who_when_measures_evidence_and_the_ground(
    app: Any,
    client: httpx.AsyncClient,
    dpo: Issued,
    issue: Any,
    file_complaint: FileComplaint,
    make_customer: Any,
) -> None:
    cid = await make_customer()
    c = await file_complaint(cid)
    evidence = [e["seq"] for e in await access_events(app, customer_id=cid)]
    assert evidence
    other_dpo = await issue("dpo", "gov-dpo-2")
    r = await move(client, dpo, c["id"], "investigating", evidence_event_ids=evidence)
    assert r.status_code == 200, r.text
    r = await move(
        client,
        other_dpo,
        c["id"],
        "rejected",
        rejection_ground="inaccurate_registration_data",
        measures=MEASURES,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "rejected"
    assert body["rejection_ground"] == "inaccurate_registration_data"
    assert body["decided_at"] is not None
    assert body["closed_at"] is None
    first, second = body["history"]
    assert first["evidence_event_ids"] == evidence
    assert first["by"] == dpo.principal_id
    assert second["by"] == other_dpo.principal_id
    assert second["rejection_ground"] == "inaccurate_registration_data"
    assert second["measures"] == MEASURES
    assert first["at"] <= second["at"]
    closed = await moved(client, dpo, c["id"], "closed")
    assert closed["closed_at"] is not None
    assert closed["rejection_ground"] == "inaccurate_registration_data"
    # Notes and measures are ciphertexts at rest, each bound to its transition.
    async with app.state.runtime.sessions() as session:
        rows = (await session.scalars(select(ComplaintTransition))).all()
    assert len(rows) == 3
    for row in rows:
        assert row.note_ct
        assert b"Zyxwq" not in row.note_ct
    events = await governance_events(app, "complaint.transition")
    assert [e["outcome"] for e in events] == ["allowed"] * 3
    assert all(e["basis"] == f"complaint:{c['id']}" for e in events)


async def test_evidence_must_name_existing_access_events(
    app: Any, client: httpx.AsyncClient, dpo: Issued, file_complaint: FileComplaint
) -> None:
    c = await file_complaint()
    real = (await access_events(app))[-1]["seq"]
    r = await move(client, dpo, c["id"], "investigating", evidence_event_ids=[real, 10**9])
    body = assert_problem(r, 422)
    assert [e["loc"] for e in body["errors"]] == [["body", "evidence_event_ids", "1"]]
    r = await move(client, dpo, c["id"], "investigating", evidence_event_ids=[0])
    assert_problem(r, 422)
    # Past a BIGINT: a validation error, not the database's overflow as a 503.
    for huge in (2**63, 10**30):
        r = await move(client, dpo, c["id"], "investigating", evidence_event_ids=[huge])
        assert_problem(r, 422)
    assert (await client.get(f"{COMPLAINTS}/{c['id']}", headers=dpo.headers)).json()[
        "status"
    ] == "received"


async def test_a_ground_goes_only_with_a_rejection(
    client: httpx.AsyncClient, dpo: Issued, file_complaint: FileComplaint
) -> None:
    c = await file_complaint()
    await moved(client, dpo, c["id"], "investigating")
    r = await move(client, dpo, c["id"], "upheld", rejection_ground="unfounded")
    body = assert_problem(r, 422)
    assert body["errors"][0]["loc"] == ["body", "rejection_ground"]
    r = await move(client, dpo, c["id"], "rejected", rejection_ground="because")
    assert_problem(r, 422)
    r = await move(client, dpo, c["id"], "rejected")  # a ground is optional
    assert r.status_code == 200
    assert r.json()["rejection_ground"] is None


async def test_transition_of_an_unknown_complaint_is_404_and_logged(
    app: Any, client: httpx.AsyncClient, dpo: Issued
) -> None:
    r = await move(client, dpo, str(uuid.uuid4()), "investigating")
    assert_problem(r, 404)
    r = await client.get(f"{COMPLAINTS}/{uuid.uuid4()}", headers=dpo.headers)
    assert_problem(r, 404)
    denied = await governance_events(app, "complaint.", outcome="denied")
    assert [e["reason"] for e in denied] == ["not_found", "not_found"]


async def test_concurrent_moves_from_one_state_let_exactly_one_through(
    client: httpx.AsyncClient, dpo: Issued, file_complaint: FileComplaint
) -> None:
    c = await file_complaint()
    await moved(client, dpo, c["id"], "investigating")
    results = await asyncio.gather(
        *(move(client, dpo, c["id"], to) for to in ("upheld", "rejected", "upheld", "rejected"))
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409, 409, 409], [r.text for r in results]
    final = (await client.get(f"{COMPLAINTS}/{c['id']}", headers=dpo.headers)).json()
    assert len(final["history"]) == 2
    winner = next(r for r in results if r.status_code == 200).json()["status"]
    assert final["status"] == winner


async def test_overdue_lists_unanswered_complaints_past_due(
    app: Any, client: httpx.AsyncClient, dpo: Issued, auditor: Issued, file_complaint: FileComplaint
) -> None:
    late_received = await file_complaint()
    late_investigating = await file_complaint()
    await moved(client, dpo, late_investigating["id"], "investigating")
    answered_late = await file_complaint()
    await moved(client, dpo, answered_late["id"], "investigating", "upheld")
    on_time = await file_complaint()
    for c in (late_received, late_investigating, answered_late):
        await set_complaint(app, c["id"], due_at=ago(days=1))

    r = await client.get(COMPLAINTS, params={"overdue": "true"}, headers=auditor.headers)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert {i["id"] for i in items} == {late_received["id"], late_investigating["id"]}
    assert all(i["overdue"] for i in items)
    r = await client.get(COMPLAINTS, params={"overdue": "false"}, headers=dpo.headers)
    assert {i["id"] for i in r.json()["items"]} == {answered_late["id"], on_time["id"]}
    r = await client.get(
        COMPLAINTS, params={"overdue": "true", "status": "investigating"}, headers=dpo.headers
    )
    assert [i["id"] for i in r.json()["items"]] == [late_investigating["id"]]
    one = (await client.get(f"{COMPLAINTS}/{late_received['id']}", headers=dpo.headers)).json()
    assert one["overdue"] is True
    assert len(await governance_events(app, "complaint.list")) == 3


async def test_the_list_pages_and_filters_by_customer(
    client: httpx.AsyncClient, dpo: Issued, file_complaint: FileComplaint, make_customer: Any
) -> None:
    cid = await make_customer()
    mine = [(await file_complaint(cid))["id"] for _ in range(3)]
    await file_complaint()
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "customer_id": cid}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(COMPLAINTS, params=params, headers=dpo.headers)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == mine


async def test_shredding_a_customers_complaints_nulls_keys_and_every_ciphertext(
    app: Any,
    client: httpx.AsyncClient,
    dpo: Issued,
    auditor: Issued,
    file_complaint: FileComplaint,
    make_customer: Any,
) -> None:
    erased, kept = await make_customer(), await make_customer()
    gone = [await file_complaint(erased), await file_complaint(erased)]
    await moved(client, dpo, gone[0]["id"], "investigating", "upheld")
    other = await file_complaint(kept)
    await moved(client, dpo, other["id"], "investigating")
    async with app.state.runtime.sessions() as session:
        assert await shred_customer_complaints(session, uuid.UUID(erased)) == 2
        await session.commit()
    for c in gone:
        row = await _row(app, c["id"])
        assert row.shredded_at is not None
        assert (row.kek_version, row.wrapped_dek, row.description_ct, row.contact_ct) == (
            None,
            None,
            None,
            None,
        )
        assert row.category == "misuse"
        assert row.customer_id == uuid.UUID(erased)
    async with app.state.runtime.sessions() as session:
        steps = (await session.scalars(select(ComplaintTransition))).all()
    by_complaint: dict[str, list[ComplaintTransition]] = {}
    for s in steps:
        by_complaint.setdefault(str(s.complaint_id), []).append(s)
    assert all(s.note_ct is None for s in by_complaint[gone[0]["id"]])
    assert all(s.note_ct is not None for s in by_complaint[other["id"]])

    full = (await client.get(f"{COMPLAINTS}/{gone[0]['id']}", headers=dpo.headers)).json()
    assert full["shredded"] is True
    assert full["description"] is None
    assert full["contact"] is None
    assert [h["note"] for h in full["history"]] == [None, None]
    assert full["status"] == "upheld"
    # The register still works on it: it can be closed, and keeps no new free text.
    closed = await moved(client, dpo, gone[0]["id"], "closed")
    assert closed["status"] == "closed"
    assert closed["history"][-1]["note"] is None
    untouched = (await client.get(f"{COMPLAINTS}/{other['id']}", headers=dpo.headers)).json()
    assert untouched["description"] == DESCRIPTION
    assert untouched["shredded"] is False


async def test_no_free_text_reaches_the_access_log(
    app: Any, client: httpx.AsyncClient, dpo: Issued, auditor: Issued, file_complaint: FileComplaint
) -> None:
    c = await file_complaint()
    await moved(client, dpo, c["id"], "investigating")
    await move(client, dpo, c["id"], "upheld", measures=MEASURES)
    await client.get(f"{COMPLAINTS}/{c['id']}", headers=dpo.headers)
    await client.get(f"{COMPLAINTS}/{c['id']}", headers=auditor.headers)
    text = json.dumps([{k: str(v) for k, v in e.items()} for e in await access_events(app)])
    for secret in SECRETS:
        assert secret not in text
