"""After a whole scripted session, no access event holds a personal value, in any column."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import quote

import httpx

from tests.conftest import Issued, access_events, customer_body

NAME = "Vũ Thị Kiểm Tra"
EMAIL = "vu.kiem.tra@example.com"
PHONE_RAW = "0945 678 123"
PHONE_E164 = "+84945678123"
ADDRESS = "Số 42 Đường Không Có Thật, Phường Thử, Hải Phòng"
NEW_NAME = "Vũ Thị Đã Sửa"
NEW_PHONE_RAW = "0945 000 999"
NEW_PHONE_E164 = "+84945000999"
NEW_ADDRESS = "Số 43 Đường Không Có Thật, Hải Phòng"
BATCH_NAME = "Đỗ Văn Lô Hàng"
BATCH_EMAIL = "do.van.lo@example.com"
BATCH_PHONE_RAW = "0946 111 333"
BATCH_PHONE_E164 = "+84946111333"
JUSTIFICATION = "Khách yêu cầu hỗ trợ đơn hàng"

VALUES = [
    NAME,
    unicodedata.normalize("NFD", NAME),
    EMAIL,
    "vu.kiem.tra",
    PHONE_RAW,
    PHONE_E164,
    PHONE_E164.lstrip("+"),
    "945678123",
    ADDRESS,
    NEW_NAME,
    NEW_PHONE_RAW,
    NEW_PHONE_E164,
    "945000999",
    NEW_ADDRESS,
    BATCH_NAME,
    BATCH_EMAIL,
    BATCH_PHONE_RAW,
    BATCH_PHONE_E164,
    "946111333",
    JUSTIFICATION,
    "Không Có Thật",
]


async def test_no_personal_value_in_any_access_event(
    client: httpx.AsyncClient, shop: Issued, staff: Issued, app: Any
) -> None:
    body = customer_body(
        full_name=unicodedata.normalize("NFD", NAME),
        email=EMAIL,
        phone=PHONE_RAW,
        address=ADDRESS,
    )
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]

    # Refused and failed attempts carry values too.
    r = await client.post("/v1/customers", json=body, headers=staff.headers)
    assert r.status_code == 409
    refused = {**body, "email": "vu.kiem.tra.2@example.com", "consents": {"processing": False}}
    r = await client.post("/v1/customers", json=refused, headers=shop.headers)
    assert r.status_code == 422

    reads = [
        (staff, "order_confirmation", None, {}),
        (staff, "product_consultation", "full_name,phone", {}),
        (staff, "marketing", None, {}),
        (staff, "special_case_support", None, {}),
        (staff, "special_case_support", None, {"X-Justification": quote(JUSTIFICATION)}),
        (staff, EMAIL, None, {}),  # a value typed into the purpose box is never logged
        (shop, "customer_self_service", None, {}),
    ]
    for who, purpose, fields, extra in reads:
        params = {"purpose": purpose, **({"fields": fields} if fields else {})}
        r = await client.get(
            f"/v1/customers/{cid}", params=params, headers={**who.headers, **extra}
        )
        assert r.status_code in (200, 403), r.text

    for key in (
        {"phone": PHONE_RAW},
        {"phone": PHONE_E164},
        {"email": EMAIL.replace("example.com", "Example.COM")},
    ):
        r = await client.post(
            "/v1/customers/search",
            json={**key, "purpose": "order_confirmation"},
            headers=staff.headers,
        )
        assert r.status_code == 200, r.text
        assert [i["id"] for i in r.json()["items"]] == [cid]
    r = await client.post(
        "/v1/customers/search", json={"email": EMAIL, "purpose": "marketing"}, headers=staff.headers
    )
    assert r.status_code == 403
    r = await client.post(
        "/v1/customers/search",
        json={"email": EMAIL, "purpose": PHONE_RAW},
        headers=staff.headers,
    )
    assert r.status_code == 403

    etag = (
        await client.get(
            f"/v1/customers/{cid}",
            params={"purpose": "customer_self_service"},
            headers=shop.headers,
        )
    ).headers["etag"]
    patch = {"full_name": NEW_NAME, "phone": NEW_PHONE_RAW, "address": NEW_ADDRESS}
    r = await client.patch(
        f"/v1/customers/{cid}",
        params={"purpose": "customer_self_service"},
        json=patch,
        headers={**shop.headers, "If-Match": etag},
    )
    assert r.status_code == 200, r.text
    r = await client.patch(
        f"/v1/customers/{cid}",
        params={"purpose": "customer_self_service"},
        json={"address": ADDRESS},
        headers={**shop.headers, "If-Match": etag},
    )
    assert r.status_code == 412

    batch = [
        customer_body(full_name=BATCH_NAME, email=BATCH_EMAIL, phone=BATCH_PHONE_RAW),
        customer_body(full_name=NAME, email=EMAIL.replace("example.com", "EXAMPLE.COM")),
        customer_body(phone="0945 678 12x"),
    ]
    r = await client.post(
        "/v1/customers/batch",
        json={"items": batch},
        headers={**staff.headers, "Idempotency-Key": "lo-kiem-tra"},
    )
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == [201, 409, 422]

    events = await access_events(app)
    customer_events = [e for e in events if e["action"].startswith("customer.")]
    assert len(customer_events) >= 20
    assert {e["outcome"] for e in customer_events} == {"allowed", "denied"}
    for event in events:
        assert set(event["fields"]) <= {"full_name", "phone", "email", "address"}
        for column, value in event.items():
            text = str(value)
            for secret in VALUES:
                assert secret not in text, f"{secret!r} found in access_events.{column}"
