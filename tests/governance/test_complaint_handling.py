"""``complaint_handling`` opens a DPO's read of a customer only while a complaint on that
customer is open (received, investigating, or upheld with measures under way)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from pdvault.customers.models import Consent
from tests.conftest import Issued, access_events
from tests.governance.conftest import FileComplaint, moved
from tests.helpers import assert_problem

PURPOSE = {"purpose": "complaint_handling"}


async def _read(client: httpx.AsyncClient, who: Issued, cid: str) -> httpx.Response:
    return await client.get(f"/v1/customers/{cid}", params=PURPOSE, headers=who.headers)


async def test_open_only_while_a_complaint_on_the_customer_is_open(
    app: Any,
    client: httpx.AsyncClient,
    dpo: Issued,
    staff: Issued,
    file_complaint: FileComplaint,
    make_customer: Any,
) -> None:
    cid, other = await make_customer(), await make_customer()
    assert_problem(await _read(client, dpo, cid), 403, "no_open_case")

    c = await file_complaint(cid)
    await file_complaint(other)  # a complaint on someone else opens nothing here
    r = await _read(client, dpo, cid)
    assert r.status_code == 200, r.text
    assert set(r.json()["fields"]) == {"full_name", "phone", "email", "address"}
    # The employee never reads for complaint handling, open case or not.
    assert_problem(await _read(client, staff, cid), 403, "role_not_permitted")

    await moved(client, dpo, c["id"], "investigating")
    assert (await _read(client, dpo, cid)).status_code == 200
    await moved(client, dpo, c["id"], "upheld")
    assert (await _read(client, dpo, cid)).status_code == 200  # measures under way
    await moved(client, dpo, c["id"], "closed")
    assert_problem(await _read(client, dpo, cid), 403, "no_open_case")

    reads = [
        e
        for e in await access_events(app, customer_id=cid)
        if e["action"] == "customer.read" and e["role"] == "dpo"
    ]
    assert [(e["outcome"], e["reason"]) for e in reads] == [
        ("denied", "no_open_case"),
        ("allowed", None),
        ("allowed", None),
        ("allowed", None),
        ("denied", "no_open_case"),
    ]
    for e in reads:
        assert e["purpose"] == "complaint_handling"
    assert {e["basis"] for e in reads if e["outcome"] == "allowed"} == {f"complaint:{c['id']}"}


async def test_a_rejected_complaint_no_longer_opens_the_record(
    app: Any,
    client: httpx.AsyncClient,
    dpo: Issued,
    file_complaint: FileComplaint,
    make_customer: Any,
) -> None:
    cid = await make_customer()
    c = await file_complaint(cid)
    await moved(client, dpo, c["id"], "investigating", "rejected")
    assert_problem(await _read(client, dpo, cid), 403, "no_open_case")
    # A second, still open complaint opens it again, and is the one cited.
    c2 = await file_complaint(cid)
    r = await _read(client, dpo, cid)
    assert r.status_code == 200, r.text
    [event] = [
        e
        for e in await access_events(app, customer_id=cid, outcome="allowed")
        if e["action"] == "customer.read"
    ]
    assert event["basis"] == f"complaint:{c2['id']}"


async def test_withdrawn_processing_consent_does_not_close_complaint_handling(
    app: Any,
    client: httpx.AsyncClient,
    dpo: Issued,
    file_complaint: FileComplaint,
    make_customer: Any,
) -> None:
    """R7.1: complaint handling is a legal purpose, so it survives a withdrawal."""
    cid = await make_customer()
    async with app.state.runtime.sessions() as session:
        session.add(
            Consent(
                customer_id=uuid.UUID(cid),
                kind="processing",
                granted=False,
                source="test",
                policy_version="2024-01",
            )
        )
        await session.commit()
    assert_problem(await _read(client, dpo, cid), 403, "no_open_case")
    await file_complaint(cid)
    assert (await _read(client, dpo, cid)).status_code == 200
