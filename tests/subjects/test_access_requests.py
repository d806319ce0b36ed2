"""Access requests: the other half of docs/policy.md's ``data_subject_request`` condition ("an open
deletion or access request on this customer")."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Issued, access_events
from tests.helpers import assert_problem
from tests.rights_fixtures import SubjectFactory

REQUESTS = "/v1/access-requests"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def file(client: httpx.AsyncClient, who: Issued, customer_id: str) -> dict[str, Any]:
    body = {"customer_id": customer_id, "channel": "letter", "reference": "CV-2026-0412"}
    r = await client.post(REQUESTS, json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_an_open_access_request_lets_the_dpo_export_until_fulfilled(
    client: httpx.AsyncClient, app: Any, subject: SubjectFactory, dpo: Issued
) -> None:
    s = await subject()
    export = f"/v1/customers/{s.id}/export"
    assert_problem(await client.get(export, headers=dpo.headers), 403, "no_open_case")
    req = await file(client, dpo, s.id)
    assert req["status"] == "pending"
    hours = app.state.runtime.settings.access_request_deadline_hours
    assert at(req["due_at"]) - at(req["requested_at"]) == timedelta(hours=hours)
    r = await client.get(export, headers=dpo.headers)
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["email"] == s.body["email"]
    done = await client.post(f"{REQUESTS}/{req['id']}/fulfil", headers=dpo.headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "fulfilled"
    assert_problem(await client.get(export, headers=dpo.headers), 403, "no_open_case")
    bases = [
        e["basis"]
        for e in await access_events(app, customer_id=s.id, action="customer.export")
        if e["outcome"] == "allowed"
    ]
    assert bases == [f"access_request:{req['id']}"]


async def test_decisions_only_from_pending(
    client: httpx.AsyncClient, subject: SubjectFactory, shop: Issued, dpo: Issued, auditor: Issued
) -> None:
    a, b = await subject(), await subject()
    ra, rb = await file(client, shop, a.id), await file(client, dpo, b.id)
    assert_problem(await file_again(client, shop, a.id), 409, "request_pending")
    r = await client.post(
        f"{REQUESTS}/{rb['id']}/reject", json={"reason": "Mẫu"}, headers=dpo.headers
    )
    assert r.json()["status"] == "rejected"
    assert r.json()["rejection_reason"] == "Mẫu"
    assert (
        await client.post(f"{REQUESTS}/{ra['id']}/fulfil", headers=dpo.headers)
    ).status_code == 200
    for rid in (ra["id"], rb["id"]):
        assert_problem(
            await client.post(f"{REQUESTS}/{rid}/fulfil", headers=dpo.headers),
            409,
            "invalid_transition",
        )
    listed = (await client.get(REQUESTS, headers=auditor.headers)).json()["items"]
    assert [(i["id"], i["status"]) for i in listed] == [
        (ra["id"], "fulfilled"),
        (rb["id"], "rejected"),
    ]
    one = await client.get(f"{REQUESTS}/{ra['id']}", headers=auditor.headers)
    assert one.json()["status"] == "fulfilled"
    assert_problem(await client.post(f"{REQUESTS}/{ra['id']}/fulfil", headers=auditor.headers), 403)
    assert_problem(
        await client.get(REQUESTS, params={"overdue": "maybe"}, headers=dpo.headers), 422
    )


async def file_again(client: httpx.AsyncClient, who: Issued, customer_id: str) -> httpx.Response:
    return await client.post(
        REQUESTS,
        json={"customer_id": customer_id, "channel": "hotline", "reference": "T-1"},
        headers=who.headers,
    )


async def test_a_dpo_must_cite_the_persons_own_request(
    client: httpx.AsyncClient, app: Any, subject: SubjectFactory, dpo: Issued, shop: Issued
) -> None:
    """14.6: staff cannot open an access request (and a read under it) on their own: the
    dpo names the channel and the reference of the person's own request. The refusal is
    logged and opens nothing."""
    s = await subject()
    r = await client.post(
        REQUESTS, json={"customer_id": s.id, "channel": "letter"}, headers=dpo.headers
    )
    body = assert_problem(r, 422, "reference_required")
    assert body["errors"][0]["loc"] == ["body", "reference"]
    for bad in ("", " leading-space", "x" * 101, "line\nbreak", "NUL\u0000", "ý kiến"):
        r = await client.post(
            REQUESTS,
            json={"customer_id": s.id, "channel": "letter", "reference": bad},
            headers=dpo.headers,
        )
        assert_problem(r, 422)
    assert (await client.get(REQUESTS, headers=dpo.headers)).json()["items"] == []
    export = f"/v1/customers/{s.id}/export"
    assert_problem(await client.get(export, headers=dpo.headers), 403, "no_open_case")
    [refused] = await access_events(app, customer_id=s.id, action="access_request.request")
    assert (refused["outcome"], refused["reason"]) == ("denied", "reference_required")
    req = await file(client, dpo, s.id)
    assert req["reference"] == "CV-2026-0412"
    assert req["channel"] == "letter"
    one = await client.get(f"{REQUESTS}/{req['id']}", headers=dpo.headers)
    assert one.json()["reference"] == "CV-2026-0412"
    # The storefront files for the signed-in customer, who is the one asking.
    other = await subject()
    r = await client.post(
        REQUESTS, json={"customer_id": other.id, "channel": "storefront"}, headers=shop.headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["reference"] is None


async def test_an_access_request_opens_only_the_export(
    client: httpx.AsyncClient, app: Any, subject: SubjectFactory, dpo: Issued, shop: Issued
) -> None:
    """14.6: under an open access request the dpo may produce the export, and nothing else:
    no plain read, no search, no correction (each refused no_open_case, logged). A deletion
    request still opens the reads and writes that serving it needs."""
    s = await subject()
    await file(client, dpo, s.id)
    purpose = {"purpose": "data_subject_request"}
    read = await client.get(f"/v1/customers/{s.id}", params=purpose, headers=dpo.headers)
    assert_problem(read, 403, "no_open_case")
    found = await client.post(
        "/v1/customers/search", json={**purpose, "email": s.body["email"]}, headers=dpo.headers
    )
    assert found.status_code in (200, 403), found.text
    assert s.body["email"] not in found.text
    assert s.body["full_name"] not in found.text
    current = await client.get(f"/v1/customers/{s.id}/export", headers=dpo.headers)
    assert current.status_code == 200, current.text
    denied = [
        e
        for e in await access_events(app, customer_id=s.id)
        if e["action"] in ("customer.read", "customer.search") and e["outcome"] == "denied"
    ]
    assert {e["reason"] for e in denied} == {"no_open_case"}
    # A pending deletion request on the same customer is the basis a plain read cites.
    r = await client.post(
        "/v1/deletion-requests",
        json={"customer_id": s.id, "channel": "letter"},
        headers=shop.headers,
    )
    assert r.status_code == 201, r.text
    read = await client.get(f"/v1/customers/{s.id}", params=purpose, headers=dpo.headers)
    assert read.status_code == 200, read.text


async def test_rejection_reasons_are_sealed_and_shredded_with_the_customer(
    client: httpx.AsyncClient, app: Any, subject: SubjectFactory, dpo: Issued, auditor: Issued
) -> None:
    """14.10: a rejection reason (staff's free text about one customer) is stored only as
    ciphertext under that customer's data key, is shown while the key exists, and reads
    as null once the customer is erased; on both request registers."""
    from sqlalchemy import select

    from pdvault.erasure.models import DeletionRequest
    from pdvault.subjects.models import AccessRequest

    s = await subject()
    reason = f"Trùng với yêu cầu trước của {s.body['full_name']}"
    areq = await file(client, dpo, s.id)
    r = await client.post(
        f"{REQUESTS}/{areq['id']}/reject", json={"reason": reason}, headers=dpo.headers
    )
    assert r.json()["rejection_reason"] == reason
    dreqs = "/v1/deletion-requests"
    r = await client.post(
        dreqs, json={"customer_id": s.id, "channel": "letter"}, headers=dpo.headers
    )
    first = r.json()["id"]
    r = await client.post(f"{dreqs}/{first}/reject", json={"reason": reason}, headers=dpo.headers)
    assert r.json()["rejection_reason"] == reason
    for who in (dpo, auditor):
        assert (await client.get(f"{REQUESTS}/{areq['id']}", headers=who.headers)).json()[
            "rejection_reason"
        ] == reason
        assert (await client.get(f"{dreqs}/{first}", headers=who.headers)).json()[
            "rejection_reason"
        ] == reason
    async with app.state.runtime.sessions() as session:
        for model in (AccessRequest, DeletionRequest):
            rows = (
                await session.execute(select(model.rejection_reason, model.rejection_reason_ct))
            ).all()
            assert [clear for clear, _ in rows] == [None]
            [(_, sealed)] = rows
            assert sealed is not None
            assert reason.encode() not in sealed
            assert s.body["full_name"].encode() not in sealed
    # Erase the customer: both reasons go with the data key.
    r = await client.post(
        dreqs, json={"customer_id": s.id, "channel": "letter"}, headers=dpo.headers
    )
    second = r.json()["id"]
    r = await client.post(f"{dreqs}/{second}/approve", headers=dpo.headers)
    assert r.status_code == 200, r.text
    for who in (dpo, auditor):
        listed = (await client.get(REQUESTS, headers=who.headers)).json()["items"]
        assert [i["rejection_reason"] for i in listed] == [None]
        one = await client.get(f"{dreqs}/{first}", headers=who.headers)
        assert one.json()["rejection_reason"] is None
        assert reason not in (await client.get(dreqs, headers=who.headers)).text


async def test_a_reason_written_before_sealing_is_hidden_after_erasure(
    client: httpx.AsyncClient, app: Any, subject: SubjectFactory, dpo: Issued
) -> None:
    """A row from before revision 0011 keeps its clear reason until ``pdvault
    seal-free-text`` moves it; an erased customer's is never shown."""
    from sqlalchemy import select, update

    from pdvault.subjects.models import AccessRequest

    s = await subject()
    areq = await file(client, dpo, s.id)
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(AccessRequest).values(status="rejected", rejection_reason="Cũ (mẫu)")
        )
        await session.commit()
    one = await client.get(f"{REQUESTS}/{areq['id']}", headers=dpo.headers)
    assert one.json()["rejection_reason"] == "Cũ (mẫu)"
    dreqs = "/v1/deletion-requests"
    r = await client.post(
        dreqs, json={"customer_id": s.id, "channel": "letter"}, headers=dpo.headers
    )
    assert (
        await client.post(f"{dreqs}/{r.json()['id']}/approve", headers=dpo.headers)
    ).status_code == 200
    one = await client.get(f"{REQUESTS}/{areq['id']}", headers=dpo.headers)
    assert one.json()["rejection_reason"] is None
    # Not only hidden: the erasure removed the clear words from the database itself.
    async with app.state.runtime.sessions() as session:
        stored = (
            await session.execute(
                select(AccessRequest.rejection_reason, AccessRequest.rejection_reason_ct).where(
                    AccessRequest.id == uuid.UUID(areq["id"])
                )
            )
        ).one()
    assert tuple(stored) == (None, None)


async def test_seal_free_text_moves_clear_reasons_under_the_customers_key(
    client: httpx.AsyncClient, app: Any, subject: SubjectFactory, dpo: Issued
) -> None:
    """``pdvault seal-free-text``: rows from before revision 0011 get their reason sealed
    (or dropped, for a customer already erased); the clear column is emptied; re-runs are
    no-ops."""
    from sqlalchemy import select, update

    from pdvault.subjects.models import AccessRequest
    from pdvault.subjects.ops import seal_clear_reasons

    live, gone = await subject(), await subject()
    kept, lost = await file(client, dpo, live.id), await file(client, dpo, gone.id)
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(AccessRequest).values(status="rejected", rejection_reason="Cũ (mẫu)")
        )
        await session.commit()
    dreqs = "/v1/deletion-requests"
    r = await client.post(
        dreqs, json={"customer_id": gone.id, "channel": "letter"}, headers=dpo.headers
    )
    assert (
        await client.post(f"{dreqs}/{r.json()['id']}/approve", headers=dpo.headers)
    ).status_code == 200
    async with app.state.runtime.sessions() as session:
        # The erased customer's clear reason went with the erasure: one left to seal.
        assert await seal_clear_reasons(session, app.state.runtime.keys, batch=1) == 1
        await session.commit()
        assert await seal_clear_reasons(session, app.state.runtime.keys) == 0
        rows = {
            str(i): (clear, sealed)
            for i, clear, sealed in await session.execute(
                select(
                    AccessRequest.id,
                    AccessRequest.rejection_reason,
                    AccessRequest.rejection_reason_ct,
                )
            )
        }
    assert rows[lost["id"]] == (None, None)
    clear, sealed = rows[kept["id"]]
    assert clear is None
    assert sealed is not None
    assert "Cũ".encode() not in sealed
    one = await client.get(f"{REQUESTS}/{kept['id']}", headers=dpo.headers)
    assert one.json()["rejection_reason"] == "Cũ (mẫu)"
