"""Nothing personal in the log: customers with distinctive values go through every endpoint of
the app (checked against the OpenAPI document, so none is forgotten), allowed and denied; then
every column of every row of the log's tables, the application's log output and /metrics are
scanned for those values in every form they could take. None may be found.
"""

from __future__ import annotations

import io
import json
import logging
import string
import unicodedata
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from pdvault.audit.ledger import AuditCheckpoint, AuditWriter
from pdvault.audit.models import AccessEvent
from pdvault.observability import JsonFormatter
from tests.conftest import Issued, TokenFactory, customer_body

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}

# Distinctive fake people; "Zyxwq" appears in no code, policy text or fixture.
A = {
    "full_name": "Zyxwq Đặng Quỷnhtest",
    "email": "Zyxwq.Marker.77@Example.com",
    "phone": "0987 650 321",
    "address": "Ngõ Zyxwq 99, Hà Nội",
}
B = {
    "full_name": unicodedata.normalize("NFD", "Zyxwq Lê Thịtestb"),
    "email": "zyxwq.marker.78@example.com",
    "phone": "0987650322",
    "address": "Hẻm Zyxwq 12, Quận Mẫu, TP. Hồ Chí Minh",
}
C = {
    "full_name": "Zyxwq Phạm Vântestc",
    "email": "zyxwq.marker.79@example.com",
    "phone": "+84987650323",
    "address": "Số 5 Phố Zyxwq, Đà Nẵng",
}
D = {
    "full_name": "Zyxwq Bùi Ánhtestd",
    "email": "zyxwq.marker.80@example.com",
    "phone": "0987-650-324",
    "address": "Thôn Zyxwq, Huế",
}
E = {
    "full_name": "Zyxwq Hoàng Xoátteste",
    "email": "zyxwq.marker.81@example.com",
    "phone": "0987 650 325",
    "address": "Ấp Zyxwq, Cần Thơ",
}
PATCHED = {"address": "Ngõ Zyxwq 101, Hà Nội", "phone": "0987 650 399"}
TOKENS = [
    "Zyxwq",
    "Quỷnhtest",
    "Quynhtest",
    "Thịtestb",
    "Vântestc",
    "Ánhtestd",
    "Xoátteste",
    "marker.7",
    "marker.8",
]


def _forms(value: str) -> set[str]:
    out = {value}
    for form in ("NFC", "NFD", "NFKC"):
        out.add(unicodedata.normalize(form, value))
    out |= {v.lower() for v in list(out)}
    out |= {v.casefold() for v in list(out)}
    digits = "".join(ch for ch in value if ch in string.digits)
    if len(digits) >= 9 and sum(ch.isalpha() for ch in value) == 0:  # a phone number
        national = digits[2:] if digits.startswith("84") else digits.lstrip("0")
        out |= {digits, national, "0" + national, "84" + national, "+84" + national}
    if "@" in value:
        out.add(value.split("@")[0])
    return {v for v in out if v}


def needles() -> set[str]:
    people = [A, B, C, D, E]
    values = [*(v for p in people for v in p.values()), *PATCHED.values(), *TOKENS]
    out: set[str] = set()
    for value in values:
        out |= _forms(value)
    out |= {"".join(ch for ch in unicodedata.normalize("NFD", v) if ch.isascii()) for v in TOKENS}
    return out


def find_values(haystack: str) -> list[str]:
    lowered = {
        unicodedata.normalize("NFC", haystack).casefold(),
        unicodedata.normalize("NFD", haystack).casefold(),
    }
    return sorted(n for n in needles() if any(n.casefold() in h for h in lowered))


def test_the_scanner_finds_what_it_looks_for() -> None:
    """The scan below could fail: each form of each value is found in a text holding it."""
    for value in (
        A["full_name"],
        unicodedata.normalize("NFD", A["full_name"]),
        "zyxwq.marker.77@example.com",
        "+84987650321",
        "0987650321",
        "Ngõ Zyxwq 99",
        "N. Đ. Quỷnhtest",  # masked name
        "quynhtest",
    ):
        assert find_values(f'{{"x": "{value}"}}'), value
    assert not find_values('{"msg": "request", "route": "/v1/customers/{customer_id}"}')


# -- capturing the application's log output ---------------------------------------------


@pytest.fixture
def app_log(app: Any) -> Iterator[io.StringIO]:
    """Every record of the ``pdvault`` loggers (and the root logger), formatted as the app
    formats them, DEBUG included, while the test runs."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    ours, root = logging.getLogger("pdvault"), logging.getLogger()
    old_level = ours.level
    ours.addHandler(handler)
    root.addHandler(handler)
    ours.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        ours.setLevel(old_level)
        ours.removeHandler(handler)
        root.removeHandler(handler)


# -- calling every endpoint, keeping count -------------------------------------------------


@dataclass
class Caller:
    client: httpx.AsyncClient
    called: set[tuple[str, str]] = field(default_factory=set)

    async def __call__(
        self,
        method: str,
        template: str,
        who: Issued | None,
        expect: int | set[int],
        *,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> httpx.Response:
        params = {k: kw.pop(k) for k in list(kw) if "{" + k + "}" in template}
        url = template.format(**params)
        sent = {**(who.headers if who else {}), **(headers or {})}
        r = await self.client.request(method, url, headers=sent, **kw)
        wanted = {expect} if isinstance(expect, int) else expect
        assert r.status_code in wanted, f"{method} {url}: {r.status_code} {r.text}"
        self.called.add((method.lower(), template))
        return r


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def judicial_body(customer_ids: list[str]) -> dict[str, Any]:
    return {
        "authority_type": "court",
        "authority_name": "Tòa án nhân dân Mẫu",
        "document_number": "12/QĐ-TA-MAU",
        "document_date": "2026-11-02",
        "legal_basis": "Điều mẫu, Bộ luật Tố tụng dân sự (ví dụ)",
        "case_reference": "VA-MAU-0012",
        "customer_ids": customer_ids,
        "fields": ["full_name", "phone", "address"],
        "valid_until": iso(datetime.now(UTC) + timedelta(days=30)),
    }


async def exercise_everything(call: Caller, admin: Issued, issue: TokenFactory) -> None:
    shop = await issue("storefront", "npd-storefront")
    staff = await issue("employee", "npd-employee")
    dpo = await issue("dpo", "npd-dpo")
    dpo2 = await issue("dpo", "npd-dpo-2")
    legal = await issue("legal", "npd-legal")
    auditor = await issue("auditor", "npd-auditor")
    call.called |= {("post", "/v1/principals"), ("post", "/v1/principals/{principal_id}/tokens")}

    # -- public
    await call("GET", "/healthz", None, 200)
    await call("GET", "/readyz", None, 200)
    await call("GET", "/metrics", None, 200)
    await call("GET", "/v1/policy", None, 200)

    # -- customers: create, duplicate, invalid, batch
    create = "/v1/customers"
    r = await call("POST", create, shop, 201, json=customer_body(**A))
    a = r.json()["id"]
    r = await call("POST", create, staff, 201, json=customer_body(**B))
    b = r.json()["id"]
    await call("POST", create, shop, 409, json=customer_body(**A))
    bad = customer_body(**{**A, "email": "Zyxwq không phải email", "phone": "Zyxwq 12"})
    await call("POST", create, shop, 422, json=bad)
    await call("POST", create, auditor, 403, json=customer_body(**A))
    r = await call(
        "POST",
        "/v1/customers/batch",
        shop,
        200,
        json={"items": [customer_body(**C), customer_body(**D), bad, customer_body(**A)]},
    )
    results = r.json()["results"]
    assert [x["status"] for x in results][:2] == [201, 201], results
    c, d = results[0]["id"], results[1]["id"]
    people = [a, b, c, d]

    # -- search: every normalisation, allowed and denied
    search = "/v1/customers/search"
    purpose = {"purpose": "order_confirmation"}
    for query in (
        {"email": A["email"]},
        {"email": A["email"].lower()},
        {"phone": A["phone"]},
        {"phone": "+84987650321"},
        {"phone": D["phone"]},
        {"email": "zyxwq.khong.co@example.com"},
    ):
        await call("POST", search, staff, 200, json={**query, **purpose})
    await call("POST", search, shop, 403, json={"email": A["email"], **purpose})
    await call(
        "POST", search, dpo, 403, json={"email": A["email"], "purpose": "data_subject_request"}
    )

    # -- reads: allowed, subsets, justified, denied for every kind of reason
    read = "/v1/customers/{customer_id}"
    for cid in people:
        await call("GET", read, staff, 200, customer_id=cid, params=purpose)
        await call(
            "GET", read, staff, 200, customer_id=cid, params={**purpose, "fields": "full_name"}
        )
    why = {"X-Justification": urllib.parse.quote("Khách gọi hỏi về đơn hàng đã giao")}
    await call(
        "GET",
        read,
        staff,
        200,
        customer_id=a,
        params={"purpose": "special_case_support"},
        headers=why,
    )
    await call("GET", read, staff, 403, customer_id=a, params={"purpose": "special_case_support"})
    await call("GET", read, staff, 403, customer_id=a, params={"purpose": "marketing"})
    await call("GET", read, shop, 403, customer_id=a, params=purpose)
    await call("GET", read, auditor, 403, customer_id=a, params=purpose)
    await call("GET", read, staff, 403, customer_id=a)
    await call("GET", read, staff, 403, customer_id=a, params={"purpose": "zyxwq_purpose"})
    await call("GET", read, staff, 422, customer_id=a, params={**purpose, "fields": "zyxwq"})
    r = await call(
        "GET", read, shop, 200, customer_id=a, params={"purpose": "customer_self_service"}
    )
    etag = r.headers["etag"]

    # -- correction
    own = {"purpose": "customer_self_service"}
    await call("PATCH", read, shop, 428, customer_id=a, params=own, json=PATCHED)
    await call(
        "PATCH",
        read,
        shop,
        412,
        customer_id=a,
        params=own,
        json=PATCHED,
        headers={"If-Match": '"999"'},
    )
    await call(
        "PATCH",
        read,
        shop,
        200,
        customer_id=a,
        params=own,
        json=PATCHED,
        headers={"If-Match": etag},
    )
    await call("PATCH", read, staff, 403, customer_id=a, params=purpose, json=PATCHED)

    # -- partners
    r = await call(
        "POST", "/v1/partners", admin, 201, json={"name": "Giao Hàng Mẫu", "contract_ref": "HD-1"}
    )
    pid = r.json()["id"]
    await call("GET", "/v1/partners", admin, 200)
    grant = {
        "contract_ref": "HD-1",
        "purposes": ["order_fulfillment"],
        "fields": {"full_name": "masked", "phone": "masked", "email": "masked", "address": "plain"},
        "valid_from": iso(datetime.now(UTC) - timedelta(hours=1)),
        "valid_until": iso(datetime.now(UTC) + timedelta(days=30)),
    }
    r = await call(
        "POST", "/v1/partners/{partner_id}/grants", admin, 201, partner_id=pid, json=grant
    )
    gid = r.json()["id"]
    await call("GET", "/v1/partners/{partner_id}/grants", admin, 200, partner_id=pid)
    partner = await issue("partner", "npd-partner", partner_id=pid)
    assignment = {
        "customer_id": a,
        "purpose": "order_fulfillment",
        "reference": "DH-000777",
        "expires_at": iso(datetime.now(UTC) + timedelta(days=7)),
    }
    r = await call(
        "POST",
        "/v1/partners/{partner_id}/assignments",
        staff,
        201,
        partner_id=pid,
        json=assignment,
    )
    aid = r.json()["id"]
    await call("GET", "/v1/partner/assignments", partner, 200)
    fulfil = {"purpose": "order_fulfillment"}
    pread = "/v1/partner/customers/{customer_id}"
    r = await call("GET", pread, partner, 200, customer_id=a, params=fulfil)
    assert "Quỷnhtest" in unicodedata.normalize("NFC", r.text)  # the masked name, shown
    await call("GET", pread, partner, {403, 404}, customer_id=b, params=fulfil)
    await call("GET", pread, staff, 403, customer_id=a, params=fulfil)
    await call(
        "POST",
        "/v1/partners/{partner_id}/assignments/{assignment_id}/revoke",
        shop,
        200,
        partner_id=pid,
        assignment_id=aid,
    )
    await call("GET", pread, partner, {403, 404}, customer_id=a, params=fulfil)
    await call(
        "POST",
        "/v1/partners/{partner_id}/grants/{grant_id}/revoke",
        admin,
        200,
        partner_id=pid,
        grant_id=gid,
    )

    # -- judicial requests
    jr = "/v1/judicial-requests"
    r = await call("POST", jr, legal, 201, json=judicial_body([a, b]))
    rid = r.json()["id"]
    await call("GET", jr, auditor, 200)
    await call("GET", jr + "/{request_id}", legal, 200, request_id=rid)
    await call("GET", jr + "/{request_id}/disclosure", legal, 403, request_id=rid)
    await call("POST", jr + "/{request_id}/approve", dpo, 200, request_id=rid)
    r = await call("GET", jr + "/{request_id}/disclosure", legal, 200, request_id=rid)
    assert "Zyxwq" in r.text  # disclosed to the authority, never logged
    await call(
        "GET",
        jr + "/{request_id}/disclosure",
        dpo,
        200,
        request_id=rid,
        params={"customer_id": b, "fields": "full_name"},
    )
    await call(
        "GET",
        jr + "/{request_id}/disclosure",
        legal,
        403,
        request_id=rid,
        params={"customer_id": c},
    )
    r = await call("POST", jr, dpo, 201, json=judicial_body([c]))
    rid2 = r.json()["id"]
    await call("POST", jr + "/{request_id}/approve", dpo, 409, request_id=rid2)  # four eyes
    await call(
        "POST",
        jr + "/{request_id}/reject",
        dpo2,
        200,
        request_id=rid2,
        json={"reason": "Thiếu chữ ký (mẫu)"},
    )

    # -- complaints: free text holding personal values, sealed, never logged
    cp = "/v1/complaints"
    complaint = {
        "customer_id": a,
        "category": "misuse",
        "channel": "email",
        "description": f"{A['full_name']} ({A['phone']}) nhận thư rác tại {A['address']}",
        "contact": A["email"],
    }
    r = await call("POST", cp, shop, 201, json=complaint)
    kid = r.json()["id"]
    await call("POST", cp, staff, 404, json={**complaint, "customer_id": str(uuid.uuid4())})
    await call("GET", cp, auditor, 200, params={"overdue": "true"})
    r = await call("GET", cp + "/{complaint_id}", auditor, 200, complaint_id=kid)
    assert "Zyxwq" not in r.text  # the auditor sees metadata only
    note = {"note": f"Đã gọi {A['phone']} để xác minh", "measures": f"Sửa {A['email']}"}
    await call(
        "POST",
        cp + "/{complaint_id}/transitions",
        dpo,
        200,
        complaint_id=kid,
        json={"to": "investigating", **note},
    )
    await call(
        "POST",
        cp + "/{complaint_id}/transitions",
        dpo,
        409,
        complaint_id=kid,
        json={"to": "closed", **note},
    )
    await call("GET", read, dpo, 200, customer_id=a, params={"purpose": "complaint_handling"})
    r = await call("GET", cp + "/{complaint_id}", dpo, 200, complaint_id=kid)
    assert "Zyxwq" in r.text  # the DPO reads it; the log must not

    # -- breaches, subject notices and the outbox
    br = "/v1/breaches"
    breach = {
        "detected_at": iso(datetime.now(UTC) - timedelta(hours=2)),
        "summary": "Sao lưu mẫu bị truy cập trái phép",
        "data_categories": ["full_name", "email"],
        "customer_ids": [a, b],
    }
    r = await call("POST", br, dpo, 201, json=breach)
    bid = r.json()["id"]
    await call("GET", br, auditor, 200)
    await call("GET", br + "/{breach_id}", auditor, 200, breach_id=bid)
    await call(
        "POST",
        br + "/{breach_id}/authority-notification",
        dpo,
        200,
        breach_id=bid,
        json={
            "notified_at": iso(datetime.now(UTC)),
            "authority": "Cục Mẫu",
            "reference": "TB-MAU-1",
        },
    )
    await call("POST", br + "/{breach_id}/subject-notifications", dpo, 200, breach_id=bid)
    # The regulator's paperwork drafted from the register (counts and categories only).
    notice = br + "/{breach_id}/authority-notice"
    await call("GET", notice, dpo, 200, breach_id=bid)
    await call("GET", notice, dpo, 200, breach_id=bid, params={"format": "pdf", "lang": "en"})
    await call("GET", notice, auditor, 403, breach_id=bid)
    await call("GET", "/v1/reports/impact-assessment", dpo, 200)
    await call("GET", "/v1/reports/impact-assessment", dpo, 200, params={"format": "pdf"})
    r = await call("GET", "/v1/notifications", shop, 200)
    notice = r.json()["items"][0]["id"]
    await call("GET", read, shop, 200, customer_id=a, params={"purpose": "legal_notice"})
    await call("POST", "/v1/notifications/{notification_id}/ack", shop, 200, notification_id=notice)
    await call("GET", "/v1/notifications", staff, 403)
    window = {
        "since": iso(datetime.now(UTC) - timedelta(days=1)),
        "until": iso(datetime.now(UTC) + timedelta(minutes=1)),
    }
    await call("GET", "/v1/reports/compliance", auditor, 200, params=window)
    await call(
        "GET", "/v1/reports/compliance", dpo, 200, params=window, headers={"Accept": "text/csv"}
    )

    # -- the data subject's access report
    report = "/v1/customers/{customer_id}/access-report"
    await call("GET", report, shop, 200, customer_id=a)
    await call("GET", report, dpo, 200, customer_id=b)
    await call("GET", report, staff, 403, customer_id=a)

    # -- transaction documents: personal content in the bytes, the filename, the order ref
    docs = "/v1/customers/{customer_id}/documents"
    content = f"%PDF-1.7\n% {A['full_name']} {A['email']} {A['phone']}\n%%EOF".encode()
    upload_file = {"file": (f"{A['full_name']} {A['email']}.pdf", content, "application/pdf")}
    r = await call(
        "POST",
        docs,
        shop,
        201,
        customer_id=a,
        files=upload_file,
        data={"kind": "invoice", "order_ref": "DH-000777"},
    )
    doc = r.json()["id"]
    await call(
        "POST",
        docs,
        staff,
        422,
        customer_id=a,
        files=upload_file,
        data={"kind": "invoice", "order_ref": A["full_name"]},
    )
    html = f"<html>{A['full_name']} {A['address']}</html>".encode()
    await call(
        "POST",
        docs,
        staff,
        415,
        customer_id=b,
        files={"file": (f"{B['email']}.pdf", html, f"application/pdf; name={B['email']}")},
        data={"kind": "receipt", "order_ref": "DH-000778"},
    )
    await call("GET", docs, dpo, 200, customer_id=a)
    await call("GET", docs, auditor, 403, customer_id=a)
    one = docs + "/{document_id}"
    r = await call(
        "GET", one, staff, 200, customer_id=a, document_id=doc, params={"purpose": "accounting"}
    )
    assert r.content == content
    await call("GET", one, shop, 200, customer_id=a, document_id=doc, params=own)
    await call("GET", one, staff, 403, customer_id=a, document_id=doc, params=purpose)
    await call("GET", one, dpo, 403, customer_id=a, document_id=doc, params=own)
    await call(
        "GET", one, staff, 404, customer_id=b, document_id=doc, params={"purpose": "accounting"}
    )

    # -- the notice outbox
    await call("GET", "/v1/notifications", shop, 200)
    await call(
        "POST",
        "/v1/notifications/{notification_id}/ack",
        shop,
        404,
        notification_id="0193a5b0-7e2c-7d11-8c4a-5f0e00000099",
    )

    # -- data-subject rights: consents, export, access and deletion requests, erasure
    cons = "/v1/customers/{customer_id}/consents"
    consent = {"kind": "marketing", "granted": True, "policy_version": "2024-01"}
    await call("GET", cons, staff, 200, customer_id=a)
    await call("POST", cons, shop, 201, customer_id=a, json={**consent, "source": "storefront"})
    await call("POST", cons, shop, 422, customer_id=a, json={**consent, "source": A["full_name"]})
    export = "/v1/customers/{customer_id}/export"
    await call("GET", export, shop, 200, customer_id=a)
    await call("GET", export, dpo, 403, customer_id=b)  # no open request
    areq = "/v1/access-requests"
    r = await call(
        "POST", areq, dpo, 201, json={"customer_id": b, "channel": "letter", "reference": "CV-1"}
    )
    arid = r.json()["id"]
    await call("GET", export, dpo, 200, customer_id=b)
    await call("GET", areq, auditor, 200)
    await call("GET", areq + "/{request_id}", auditor, 200, request_id=arid)
    await call("POST", areq + "/{request_id}/fulfil", dpo, 200, request_id=arid)
    rej = {"reason": "Mẫu"}
    await call("POST", areq + "/{request_id}/reject", dpo, 409, request_id=arid, json=rej)
    r = await call("POST", create, shop, 201, json=customer_body(**E))
    e = r.json()["id"]
    dreq = "/v1/deletion-requests"
    note = f"{E['full_name']} {E['email']} {E['phone']} xin xoá"
    r = await call(
        "POST", dreq, shop, 201, json={"customer_id": e, "channel": "email", "note": note}
    )
    erid = r.json()["id"]
    await call("GET", dreq, auditor, 200)
    await call("GET", dreq + "/{request_id}", dpo, 200, request_id=erid)
    r = await call("POST", dreq, shop, 201, json={"customer_id": a, "channel": "email"})
    held = r.json()["id"]
    await call("POST", dreq + "/{request_id}/approve", dpo, 409, request_id=held)  # legal hold
    await call("POST", dreq + "/{request_id}/reject", dpo, 200, request_id=held, json=rej)
    await call("POST", dreq + "/{request_id}/approve", dpo, 200, request_id=erid)
    await call("GET", read, shop, 410, customer_id=e, params=own)
    r = await call("GET", "/v1/notifications", shop, 200)
    nid = next(n["id"] for n in r.json()["items"] if n["customer_id"] == e)
    ack = "/v1/notifications/{notification_id}/ack"
    await call("POST", ack, shop, 200, notification_id=nid)

    # -- more ordinary traffic, so the scan reads a real log
    for _ in range(5):
        for cid in people:
            await call("GET", read, staff, 200, customer_id=cid, params=purpose)
            await call("POST", search, staff, 200, json={"email": D["email"], **purpose})

    # -- tokens and principals
    r = await call("GET", "/v1/principals", admin, 200)
    assert r.json()["items"]
    r = await call(
        "POST",
        "/v1/principals/{principal_id}/tokens",
        admin,
        201,
        principal_id=staff.principal_id,
        json={"expires_in_days": 1},
    )
    spare = Issued(staff.principal_id, r.json()["token"], r.json()["id"])
    await call("POST", "/v1/tokens/{token_id}/revoke", admin, 200, token_id=spare.token_id)
    r = await call(
        "GET", "/v1/principals/{principal_id}/tokens", admin, 200, principal_id=staff.principal_id
    )
    assert spare.token not in r.text
    await call("GET", read, spare, 401, customer_id=a, params=purpose)  # logged: lapsed token
    await call(
        "POST",
        "/v1/principals/{principal_id}/disable",
        admin,
        200,
        principal_id=auditor.principal_id,
    )
    await call("GET", "/v1/audit/verify", auditor, 401)
    await call("GET", "/v1/admin/keys", admin, 200)
    await call("GET", "/v1/admin/keys", dpo, 403)

    # -- the auditor's API (a fresh auditor: the first one is disabled)
    auditor = await issue("auditor", "npd-auditor-2")
    events = "/v1/audit/events"
    await call("GET", events, auditor, 200)
    await call("GET", events, dpo, 200, params={"customer_id": a})
    await call("GET", events, shop, 403)
    justifications = "/v1/audit/justifications"  # issue 14.8: the text, but never in a log
    await call("GET", justifications, auditor, 200, params={"customer_id": a})
    await call("GET", justifications, dpo, 200)
    await call("GET", justifications, shop, 403)
    r = await call("GET", events + "/export", auditor, 200)
    assert r.text.count("\n") > 100
    await call("GET", "/v1/audit/checkpoints", auditor, 200)
    r = await call("GET", "/v1/audit/verify", auditor, 200)
    assert r.json()["ok"] is True, r.json()
    r = await call("GET", "/v1/audit/verify", auditor, 200, params={"full": "false"})
    assert r.json()["ok"] is True, r.json()
    r = await call("GET", "/v1/audit/verify/runs", auditor, 200)
    assert len(r.json()["items"]) == 2
    await call("GET", "/v1/audit/public-key", auditor, 200)
    await call("GET", "/v1/audit/verify", dpo, 403)


def _cell(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return raw.hex() + " " + raw.decode("utf-8", "replace")
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


async def test_no_personal_value_reaches_the_log_logs_or_metrics(
    app: Any,
    client: httpx.AsyncClient,
    admin: Issued,
    issue: TokenFactory,
    app_log: io.StringIO,
) -> None:
    call = Caller(client)
    await exercise_everything(call, admin, issue)
    assert await app.state.runtime.checkpointer.checkpoint_now() is not None

    # Every operation the app serves was called.
    served = {
        (method, path)
        for path, ops in app.openapi()["paths"].items()
        for method in ops
        if method in HTTP_METHODS
    }
    assert served - call.called == set(), "endpoints never exercised"

    # Every column of every row of the log's tables.
    rows: list[tuple[str, dict[str, Any]]] = []
    async with app.state.runtime.sessions() as session:
        for model in (AccessEvent, AuditWriter, AuditCheckpoint):
            columns = list(model.__table__.columns)
            for row in (await session.execute(select(*columns))).all():
                rows.append((model.__tablename__, dict(row._mapping)))
    by_table = {t: sum(1 for name, _ in rows if name == t) for t in ("access_events",)}
    assert by_table["access_events"] > 100
    assert any(name == "audit_checkpoints" for name, _ in rows)
    assert any(name == "audit_writers" for name, _ in rows)
    # (customer ids are in the log, so the rows are about these customers)
    customer_ids = {str(r["customer_id"]) for name, r in rows if name == "access_events"}
    assert len(customer_ids) >= 5
    leaks = {}
    for name, row in rows:
        for column, value in row.items():
            found = find_values(_cell(value))
            if found:
                leaks[f"{name}.{column}={_cell(value)[:80]}"] = found
    assert leaks == {}

    # The application's log output.
    lines = [line for line in app_log.getvalue().splitlines() if line.strip()]
    assert len(lines) > 100
    assert all(json.loads(line)["logger"].startswith("pdvault") for line in lines[:5])
    leaked_lines = [line for line in lines if find_values(line)]
    assert leaked_lines == []

    # The metrics.
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert "pdvault_access_events_total" in r.text
    assert len(r.text.splitlines()) > 20
    assert find_values(r.text) == []
