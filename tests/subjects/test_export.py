"""The export (R6.1): everything held about one person, through the policy, logged."""

from __future__ import annotations

from typing import Any

import httpx

from pdvault.notifications.service import enqueue, notice_row
from tests.conftest import Issued, access_events
from tests.helpers import assert_problem
from tests.rights_fixtures import SubjectFactory, approve_deletion, file_deletion


def export(customer_id: str) -> str:
    return f"/v1/customers/{customer_id}/export"


async def test_the_storefront_exports_everything_held(
    client: httpx.AsyncClient,
    app: Any,
    admin: Issued,
    subject: SubjectFactory,
    shop: Issued,
    staff: Issued,
) -> None:
    s = await subject(consents={"processing": True, "marketing": True})
    r = await client.get(
        f"/v1/customers/{s.id}", params={"purpose": "order_confirmation"}, headers=staff.headers
    )
    assert r.status_code == 200
    partner = await client.post(
        "/v1/partners",
        json={"name": "Giao Hàng Xuất Mẫu", "contract_ref": "HD-XUAT-01"},
        headers=admin.headers,
    )
    pid = partner.json()["id"]
    r = await client.post(
        f"/v1/partners/{pid}/assignments",
        json={
            "customer_id": s.id,
            "purpose": "order_fulfillment",
            "reference": "DH-XUAT-0001",
            "expires_at": "2099-01-01T00:00:00Z",
        },
        headers=staff.headers,
    )
    assert r.status_code == 201, r.text
    await file_deletion(client, shop, s.id, note="Tôi muốn xoá tài khoản (mẫu)")
    asked = await client.post(
        "/v1/access-requests", json={"customer_id": s.id, "channel": "email"}, headers=shop.headers
    )
    assert asked.status_code == 201, asked.text

    r = await client.get(export(s.id), headers=shop.headers)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    out = r.json()
    assert out["purpose"] == "customer_self_service"
    assert out["customer"]["id"] == s.id
    assert out["fields"]["full_name"] == s.body["full_name"]
    assert out["fields"]["email"] == s.body["email"]
    assert out["fields"]["address"] == s.body["address"]
    assert out["consents"]["current"] == {"processing": True, "marketing": True}
    assert len(out["consents"]["history"]) == 2
    reads = [a for a in out["access_report"] if a["action"] == "customer.read"]
    assert reads
    assert reads[0]["actor"] == "rights-employee"
    assert reads[0]["purpose"] == "order_confirmation"
    assert [a["partner"] for a in out["partner_assignments"]] == ["Giao Hàng Xuất Mẫu"]
    assert out["partner_assignments"][0]["reference"] == "DH-XUAT-0001"
    [request] = out["deletion_requests"]
    assert request["status"] == "pending"
    assert request["note"] == "Tôi muốn xoá tài khoản (mẫu)"
    # The requests held are both registers': an access request is one too.
    [access] = out["access_requests"]
    assert (access["id"], access["status"], access["channel"]) == (
        asked.json()["id"],
        "pending",
        "email",
    )
    assert out["documents"] == []
    assert out["complaints"] == []
    events = await access_events(app, customer_id=s.id, action="customer.export")
    assert len(events) == 1
    assert events[0]["outcome"] == "allowed"
    assert events[0]["fields"] == ["full_name", "phone", "email", "address"]
    assert events[0]["purpose"] == "customer_self_service"


async def test_the_export_lists_notices(
    client: httpx.AsyncClient, app: Any, subject: SubjectFactory, shop: Issued
) -> None:
    s = await subject()
    async with app.state.runtime.sessions() as session:
        import uuid

        await enqueue(session, [notice_row(uuid.UUID(s.id), "breach_notification", {"b": "x"})])
        await session.commit()
    out = (await client.get(export(s.id), headers=shop.headers)).json()
    assert [(n["kind"], n["data"]) for n in out["notifications"]] == [
        ("breach_notification", {"b": "x"})
    ]


async def test_the_dpo_exports_only_on_an_open_request(
    client: httpx.AsyncClient, app: Any, subject: SubjectFactory, shop: Issued, dpo: Issued
) -> None:
    s = await subject()
    assert_problem(await client.get(export(s.id), headers=dpo.headers), 403, "no_open_case")
    request = await file_deletion(client, shop, s.id)
    r = await client.get(export(s.id), headers=dpo.headers)
    assert r.status_code == 200, r.text
    assert r.json()["purpose"] == "data_subject_request"
    events = await access_events(app, customer_id=s.id, action="customer.export")
    assert [(e["outcome"], e["reason"], e["basis"]) for e in events] == [
        ("denied", "no_open_case", None),
        ("allowed", None, f"deletion_request:{request['id']}"),
    ]


async def test_purposes_and_roles_outside_the_table_are_refused(
    client: httpx.AsyncClient, subject: SubjectFactory, shop: Issued, staff: Issued
) -> None:
    s = await subject()
    assert_problem(await client.get(export(s.id), headers=staff.headers), 403, "role_not_permitted")
    r = await client.get(export(s.id), params={"purpose": "marketing"}, headers=shop.headers)
    assert_problem(r, 403, "role_not_permitted")
    r = await client.get(export(s.id), params={"purpose": "gossip"}, headers=shop.headers)
    assert_problem(r, 403, "purpose_not_permitted")
    r = await client.get(export("0193a5b0-7e2c-7d11-8c4a-5f0e0000dead"), headers=shop.headers)
    assert_problem(r, 404)


async def test_an_erased_customer_has_nothing_to_export(
    client: httpx.AsyncClient, subject: SubjectFactory, shop: Issued, dpo: Issued
) -> None:
    s = await subject()
    request = await file_deletion(client, shop, s.id)
    assert (await approve_deletion(client, dpo, request["id"])).status_code == 200
    assert_problem(await client.get(export(s.id), headers=shop.headers), 410)


def test_the_documented_export_matches_the_schema() -> None:
    import json
    import re
    from pathlib import Path

    from pdvault.subjects.schemas import Export

    doc = (Path(__file__).resolve().parents[2] / "docs" / "data-subject-rights.md").read_text()
    block = re.search(r"<!-- export example -->\n```json\n(.*?)```", doc, re.S)
    assert block is not None
    example = json.loads(block.group(1))
    parsed = Export.model_validate(example)
    assert set(example) == set(Export.model_fields)
    assert parsed.consents.history
    assert parsed.documents
    assert parsed.deletion_requests
    assert parsed.access_report
    assert parsed.fields["email"].endswith("@example.com")
