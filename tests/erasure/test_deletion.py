"""Deletion requests (R3.1): pending → executed | rejected, due dates, legal hold, erasure."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Issued, access_events
from tests.helpers import assert_problem
from tests.rights_fixtures import (
    DELETIONS,
    SubjectFactory,
    approve_deletion,
    file_deletion,
    make_overdue,
)

MISSING = "0193a5b0-7e2c-7d11-8c4a-5f0e0000dead"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_request_is_pending_and_due_after_the_deadline(
    client: httpx.AsyncClient, app: Any, subject: SubjectFactory, shop: Issued, dpo: Issued
) -> None:
    s = await subject()
    out = await file_deletion(client, shop, s.id, note="Xin xoá (mẫu)")
    assert out["status"] == "pending"
    assert out["customer_id"] == s.id
    assert out["overdue"] is False
    assert out["note"] is None  # the filer's answer carries no free text back
    hours = app.state.runtime.settings.deletion_deadline_hours
    assert hours == 72
    assert at(out["due_at"]) - at(out["requested_at"]) == timedelta(hours=hours)
    r = await client.get(f"{DELETIONS}/{out['id']}", headers=dpo.headers)
    assert r.json()["note"] == "Xin xoá (mẫu)"


async def test_the_deadline_is_configuration(
    client: httpx.AsyncClient, app: Any, subject: SubjectFactory, shop: Issued
) -> None:
    app.state.runtime.settings.deletion_deadline_hours = 24
    s = await subject()
    out = await file_deletion(client, shop, s.id)
    assert at(out["due_at"]) - at(out["requested_at"]) == timedelta(hours=24)


async def test_listing_filters_by_status_and_overdue(
    client: httpx.AsyncClient,
    app: Any,
    subject: SubjectFactory,
    shop: Issued,
    dpo: Issued,
    auditor: Issued,
) -> None:
    a, b, c = await subject(), await subject(), await subject()
    ra = await file_deletion(client, shop, a.id)
    rb = await file_deletion(client, dpo, b.id, channel="hotline")
    rc = await file_deletion(client, shop, c.id)
    await make_overdue(app, ra["id"])
    r = await client.post(
        f"{DELETIONS}/{rc['id']}/reject", json={"reason": "Trùng"}, headers=dpo.headers
    )
    assert r.status_code == 200, r.text

    async def ids(who: Issued, **params: Any) -> list[str]:
        r = await client.get(DELETIONS, params=params, headers=who.headers)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await ids(auditor) == [ra["id"], rb["id"], rc["id"]]
    assert await ids(auditor, status="pending") == [ra["id"], rb["id"]]
    assert await ids(auditor, status="rejected") == [rc["id"]]
    assert await ids(dpo, overdue="true") == [ra["id"]]
    assert await ids(dpo, overdue="false") == [rb["id"], rc["id"]]
    page = (await client.get(DELETIONS, params={"limit": 2}, headers=dpo.headers)).json()
    assert [i["id"] for i in page["items"]] == [ra["id"], rb["id"]]
    rest = await client.get(
        DELETIONS, params={"limit": 2, "cursor": page["next_cursor"]}, headers=dpo.headers
    )
    assert [i["id"] for i in rest.json()["items"]] == [rc["id"]]
    assert rest.json()["next_cursor"] is None
    overdue = next(i for i in page["items"] if i["id"] == ra["id"])
    assert overdue["overdue"] is True
    # The auditor sees metadata only.
    one = (await client.get(f"{DELETIONS}/{ra['id']}", headers=auditor.headers)).json()
    assert one["note"] is None
    assert_problem(await client.get(DELETIONS, params={"status": "lost"}, headers=dpo.headers), 422)
    assert_problem(await client.get(DELETIONS, headers=shop.headers), 403, "role_not_permitted")


async def test_approval_erases_and_every_read_is_gone(
    client: httpx.AsyncClient,
    app: Any,
    subject: SubjectFactory,
    shop: Issued,
    staff: Issued,
    dpo: Issued,
    auditor: Issued,
) -> None:
    s = await subject()
    req = await file_deletion(client, shop, s.id)
    r = await approve_deletion(client, dpo, req["id"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "executed"
    assert r.json()["decided_at"] is not None
    reads = [
        client.get(
            f"/v1/customers/{s.id}", params={"purpose": "order_confirmation"}, headers=staff.headers
        ),
        client.get(
            f"/v1/customers/{s.id}",
            params={"purpose": "customer_self_service"},
            headers=shop.headers,
        ),
        client.get(f"/v1/customers/{s.id}/consents", headers=shop.headers),
        client.get(f"/v1/customers/{s.id}/export", headers=shop.headers),
        client.get(f"/v1/customers/{s.id}/access-report", headers=shop.headers),
        client.get(f"/v1/customers/{s.id}/access-report", headers=dpo.headers),
    ]
    for response in await asyncio.gather(*reads):
        assert_problem(response, 410)
    r = await client.post(
        "/v1/customers/search",
        json={"email": s.body["email"], "purpose": "order_confirmation"},
        headers=staff.headers,
    )
    assert r.status_code == 200
    assert r.json()["items"] == []
    # The blind index is gone, so the same person may register again as a new customer.
    again = await client.post("/v1/customers", json={**s.body}, headers=shop.headers)
    assert again.status_code == 201, again.text
    assert again.json()["id"] != s.id
    # The log keeps its events on the erased customer, and still verifies.
    events = await access_events(app, customer_id=s.id, action="deletion.execute")
    assert len(events) == 1
    assert events[0]["basis"] == f"deletion_request:{req['id']}"
    assert events[0]["purpose"] == "data_subject_request"
    verify = await client.get("/v1/audit/verify", headers=auditor.headers)
    assert verify.json()["ok"] is True, verify.json()


async def test_erasure_queues_a_deletion_notice(
    client: httpx.AsyncClient, subject: SubjectFactory, shop: Issued, dpo: Issued
) -> None:
    s = await subject()
    req = await file_deletion(client, shop, s.id)
    await approve_deletion(client, dpo, req["id"])
    items = (await client.get("/v1/notifications", headers=shop.headers)).json()["items"]
    mine = [n for n in items if n["customer_id"] == s.id]
    assert [n["kind"] for n in mine] == ["deletion_executed"]
    assert mine[0]["data"]["deletion_request_id"] == req["id"]


async def test_decided_requests_cannot_be_decided_again(
    client: httpx.AsyncClient, subject: SubjectFactory, shop: Issued, dpo: Issued
) -> None:
    a, b = await subject(), await subject()
    ra, rb = await file_deletion(client, shop, a.id), await file_deletion(client, shop, b.id)
    assert (await approve_deletion(client, dpo, ra["id"])).status_code == 200
    reject = {"reason": "Khách đã rút yêu cầu"}
    assert (
        await client.post(f"{DELETIONS}/{rb['id']}/reject", json=reject, headers=dpo.headers)
    ).status_code == 200
    for rid in (ra["id"], rb["id"]):
        assert_problem(await approve_deletion(client, dpo, rid), 409, "invalid_transition")
        r = await client.post(f"{DELETIONS}/{rid}/reject", json=reject, headers=dpo.headers)
        assert_problem(r, 409, "invalid_transition")
    # b was not erased by its rejected request, and may ask again.
    r = await client.get(
        f"/v1/customers/{b.id}", params={"purpose": "customer_self_service"}, headers=shop.headers
    )
    assert r.status_code == 200
    await file_deletion(client, shop, b.id)


async def test_one_pending_request_per_customer(
    client: httpx.AsyncClient, subject: SubjectFactory, shop: Issued, dpo: Issued
) -> None:
    s = await subject()
    first = await file_deletion(client, shop, s.id)
    r = await client.post(
        DELETIONS, json={"customer_id": s.id, "channel": "email"}, headers=dpo.headers
    )
    body = assert_problem(r, 409, "request_pending")
    assert body["existing_id"] == first["id"]


async def test_legal_hold_refuses_erasure_until_the_request_closes(
    client: httpx.AsyncClient,
    app: Any,
    subject: SubjectFactory,
    shop: Issued,
    dpo: Issued,
    legal: Issued,
) -> None:
    s = await subject()
    judicial = await client.post(
        "/v1/judicial-requests",
        json={
            "authority_type": "court",
            "authority_name": "Tòa án nhân dân Mẫu",
            "document_number": "12/2026/QĐ-MAU",
            "document_date": "2026-11-01",
            "legal_basis": "Điều mẫu (ví dụ)",
            "case_reference": "VA-MAU-0012",
            "customer_ids": [s.id],
            "fields": ["full_name"],
            "valid_until": "2099-01-01T00:00:00Z",
        },
        headers=legal.headers,
    )
    assert judicial.status_code == 201, judicial.text
    req = await file_deletion(client, shop, s.id)
    assert_problem(await approve_deletion(client, dpo, req["id"]), 409, "legal_hold")
    still = await client.get(f"{DELETIONS}/{req['id']}", headers=dpo.headers)
    assert still.json()["status"] == "pending"
    r = await client.get(
        f"/v1/customers/{s.id}", params={"purpose": "customer_self_service"}, headers=shop.headers
    )
    assert r.status_code == 200
    denied = await access_events(app, customer_id=s.id, action="deletion.execute")
    assert [(e["outcome"], e["reason"]) for e in denied] == [("denied", "legal_hold")]
    # Once the court's request is rejected, nothing holds the customer any more.
    r = await client.post(
        f"/v1/judicial-requests/{judicial.json()['id']}/reject",
        json={"reason": "Thiếu chữ ký (mẫu)"},
        headers=dpo.headers,
    )
    assert r.status_code == 200, r.text
    assert (await approve_deletion(client, dpo, req["id"])).status_code == 200


async def test_erasure_ends_partner_access(
    client: httpx.AsyncClient,
    admin: Issued,
    issue: Any,
    subject: SubjectFactory,
    shop: Issued,
    staff: Issued,
    dpo: Issued,
) -> None:
    s = await subject()
    pid = (
        await client.post(
            "/v1/partners",
            json={"name": "Lắp Đặt Xoá Mẫu", "contract_ref": "HD-X-1"},
            headers=admin.headers,
        )
    ).json()["id"]
    grant = {
        "contract_ref": "HD-X-1",
        "purposes": ["order_fulfillment"],
        "fields": {"full_name": "plain", "address": "masked"},
        "valid_from": "2020-01-01T00:00:00Z",
        "valid_until": "2099-01-01T00:00:00Z",
    }
    assert (
        await client.post(f"/v1/partners/{pid}/grants", json=grant, headers=admin.headers)
    ).status_code == 201
    assignment = {
        "customer_id": s.id,
        "purpose": "order_fulfillment",
        "reference": "DH-X-1",
        "expires_at": "2099-01-01T00:00:00Z",
    }
    r = await client.post(f"/v1/partners/{pid}/assignments", json=assignment, headers=staff.headers)
    assert r.status_code == 201, r.text
    partner = await issue("partner", "lap-dat-xoa", partner_id=pid)
    path = f"/v1/partner/customers/{s.id}"
    params = {"purpose": "order_fulfillment"}
    assert (await client.get(path, params=params, headers=partner.headers)).status_code == 200
    req = await file_deletion(client, shop, s.id)
    await approve_deletion(client, dpo, req["id"])
    r = await client.get(path, params=params, headers=partner.headers)
    assert r.status_code in (404, 410), r.text
    own = (await client.get("/v1/partner/assignments", headers=partner.headers)).json()["items"]
    assert own == []


async def test_filing_needs_a_live_customer_and_valid_input(
    client: httpx.AsyncClient,
    app: Any,
    subject: SubjectFactory,
    shop: Issued,
    dpo: Issued,
    staff: Issued,
) -> None:
    assert_problem(
        await client.post(
            DELETIONS, json={"customer_id": MISSING, "channel": "email"}, headers=shop.headers
        ),
        404,
    )
    s = await subject()
    for bad in (
        {"customer_id": s.id, "channel": "pigeon"},
        {"customer_id": "not-a-uuid", "channel": "email"},
        {"customer_id": s.id, "channel": "email", "note": ""},
        {"customer_id": s.id, "channel": "email", "note": "x" * 1001},
        {"customer_id": s.id, "channel": "email", "status": "executed"},
    ):
        assert_problem(
            await client.post(DELETIONS, json=bad, headers=shop.headers), 422, errors=True
        )
    assert_problem(
        await client.post(
            DELETIONS, json={"customer_id": s.id, "channel": "email"}, headers=staff.headers
        ),
        403,
        "role_not_permitted",
    )
    listed = (await client.get(DELETIONS, headers=dpo.headers)).json()["items"]
    assert listed == []
    req = await file_deletion(client, shop, s.id)
    await approve_deletion(client, dpo, req["id"])
    r = await client.post(
        DELETIONS, json={"customer_id": s.id, "channel": "email"}, headers=shop.headers
    )
    assert_problem(r, 410)
    for rid in (MISSING, str(uuid.uuid4())):
        assert_problem(await approve_deletion(client, dpo, rid), 404)
    assert_problem(
        await client.post(f"{DELETIONS}/{req['id']}/reject", json={}, headers=dpo.headers), 422
    )


async def test_concurrent_approvals_erase_once(
    client: httpx.AsyncClient, app: Any, subject: SubjectFactory, shop: Issued, dpo: Issued
) -> None:
    s = await subject()
    req = await file_deletion(client, shop, s.id)
    results = await asyncio.gather(*(approve_deletion(client, dpo, req["id"]) for _ in range(4)))
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409, 409, 409], [r.text for r in results]
    executed = await access_events(
        app, customer_id=s.id, action="deletion.execute", outcome="allowed"
    )
    assert len(executed) == 1
    items = (await client.get("/v1/notifications", headers=shop.headers)).json()["items"]
    assert len([n for n in items if n["customer_id"] == s.id]) == 1


async def test_erasure_keeps_retained_vouchers_and_shreds_the_rest(
    client: httpx.AsyncClient,
    app: Any,
    subject: SubjectFactory,
    shop: Issued,
    staff: Issued,
    dpo: Issued,
) -> None:
    s = await subject()
    pdf = b"%PDF-1.7\n% hoa don mau\n%%EOF\n"

    async def upload(kind: str) -> str:
        r = await client.post(
            f"/v1/customers/{s.id}/documents",
            files={"file": ("mau.pdf", pdf, "application/pdf")},
            data={"kind": kind, "order_ref": "DH-XOA-0001"},
            headers=shop.headers,
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    invoice, other = await upload("invoice"), await upload("other")
    export = (await client.get(f"/v1/customers/{s.id}/export", headers=shop.headers)).json()
    assert sorted(d["id"] for d in export["documents"]) == sorted([invoice, other])
    req = await file_deletion(client, shop, s.id)
    assert (await approve_deletion(client, dpo, req["id"])).status_code == 200

    def fetch(doc: str) -> Any:
        return client.get(
            f"/v1/customers/{s.id}/documents/{doc}",
            params={"purpose": "accounting"},
            headers=staff.headers,
        )

    kept = await fetch(invoice)
    assert kept.status_code == 200, kept.text
    assert kept.content == pdf
    assert_problem(await fetch(other), 410)
    listed = await client.get(f"/v1/customers/{s.id}/documents", headers=dpo.headers)
    by_id = {d["id"]: d for d in listed.json()["items"]}
    assert by_id[invoice]["shredded_at"] is None
    assert by_id[other]["shredded_at"] is not None


async def test_erasure_shreds_the_words_of_complaints_and_keeps_the_register(
    client: httpx.AsyncClient, subject: SubjectFactory, shop: Issued, dpo: Issued
) -> None:
    s = await subject()
    words = f"Tôi là {s.body['full_name']}, có người dùng tài khoản của tôi (mẫu)"
    r = await client.post(
        "/v1/complaints",
        json={
            "customer_id": s.id,
            "category": "misuse",
            "channel": "storefront",
            "description": words,
            "contact": s.body["email"],
        },
        headers=shop.headers,
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    export = (await client.get(f"/v1/customers/{s.id}/export", headers=shop.headers)).json()
    [mine] = export["complaints"]
    assert mine["description"] == words
    assert mine["contact"] == s.body["email"]
    req = await file_deletion(client, shop, s.id)
    assert (await approve_deletion(client, dpo, req["id"])).status_code == 200
    after = (await client.get(f"/v1/complaints/{cid}", headers=dpo.headers)).json()
    assert after["description"] is None
    assert after["contact"] is None
    assert after["category"] == "misuse"
    assert after["status"] == "received"
