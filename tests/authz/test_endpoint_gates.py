"""The endpoint gate, for every authenticated route the app serves and every role.

The oracle is docs/api.md's role column, transcribed below by hand. Each route is called by a
principal of every role (random ids in the path, a valid body, so nothing but the gate can
answer first): a role outside the column gets 403 ``role_not_permitted`` and leaves exactly one
denied access event naming the operation; a role inside never gets that; no token, or an unknown
one, gets 401. The operation the event names must list the same roles in
``pdvault.policy.endpoints.ALLOWED_ROLES``.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from pdvault.config import Settings
from pdvault.main import create_app
from pdvault.policy.endpoints import ALLOWED_ROLES, Operation
from tests.authz.conftest import Cast, EventTail
from tests.conftest import customer_body
from tests.policy.expected import ROLES, TABLE

S, E, D, A = "storefront", "employee", "dpo", "admin"
P, L, U = "partner", "legal", "auditor"

# docs/api.md, every table's role column; path parameters written as {}.
API_ROLES: dict[tuple[str, str], frozenset[str]] = {
    (m, p): frozenset(roles)
    for m, p, roles in (
        ("POST", "/v1/customers", {S, E}),
        ("POST", "/v1/customers/batch", {S, E}),
        ("GET", "/v1/customers/{}", {E, S, D}),
        ("POST", "/v1/customers/search", {E, S, D}),
        ("PATCH", "/v1/customers/{}", {S, D}),
        ("GET", "/v1/customers/{}/export", {S, D}),
        ("GET", "/v1/customers/{}/access-report", {S, D}),
        ("GET", "/v1/customers/{}/consents", {S, D, E}),
        ("POST", "/v1/customers/{}/consents", {S, D}),
        ("POST", "/v1/customers/{}/documents", {S, E}),
        ("GET", "/v1/customers/{}/documents", {S, E, D}),
        ("GET", "/v1/customers/{}/documents/{}", {E, S}),
        ("POST", "/v1/partners", {A}),
        ("GET", "/v1/partners", {A}),
        ("POST", "/v1/partners/{}/grants", {A}),
        ("GET", "/v1/partners/{}/grants", {A}),
        ("POST", "/v1/partners/{}/grants/{}/revoke", {A}),
        ("POST", "/v1/partners/{}/assignments", {E, S}),
        ("POST", "/v1/partners/{}/assignments/{}/revoke", {E, S, A}),
        ("GET", "/v1/partner/assignments", {P}),
        ("GET", "/v1/partner/customers/{}", {P}),
        ("POST", "/v1/judicial-requests", {L, D}),
        ("GET", "/v1/judicial-requests", {L, D, U}),
        ("GET", "/v1/judicial-requests/{}", {L, D, U}),
        ("POST", "/v1/judicial-requests/{}/approve", {D}),
        ("POST", "/v1/judicial-requests/{}/reject", {D}),
        ("GET", "/v1/judicial-requests/{}/disclosure", {L, D}),
        ("POST", "/v1/deletion-requests", {S, D}),
        ("GET", "/v1/deletion-requests", {D, U}),
        # An extension (docs/decisions.md): one request, with the list's roles.
        ("GET", "/v1/deletion-requests/{}", {D, U}),
        # Access requests, an extension (docs/decisions.md), with deletion requests' roles.
        ("POST", "/v1/access-requests", {S, D}),
        ("GET", "/v1/access-requests", {D, U}),
        ("GET", "/v1/access-requests/{}", {D, U}),
        ("POST", "/v1/access-requests/{}/fulfil", {D}),
        ("POST", "/v1/access-requests/{}/reject", {D}),
        ("POST", "/v1/deletion-requests/{}/approve", {D}),
        ("POST", "/v1/deletion-requests/{}/reject", {D}),
        ("POST", "/v1/complaints", {S, E, D}),
        ("GET", "/v1/complaints", {D, U}),
        ("GET", "/v1/complaints/{}", {D, U}),
        ("POST", "/v1/complaints/{}/transitions", {D}),
        ("POST", "/v1/breaches", {D}),
        ("GET", "/v1/breaches", {D, U}),
        ("GET", "/v1/breaches/{}", {D, U}),
        ("POST", "/v1/breaches/{}/authority-notification", {D}),
        ("POST", "/v1/breaches/{}/subject-notifications", {D}),
        ("GET", "/v1/breaches/{}/authority-notice", {D}),
        ("GET", "/v1/notifications", {S}),
        ("POST", "/v1/notifications/{}/ack", {S}),
        ("GET", "/v1/reports/compliance", {D, U}),
        ("GET", "/v1/reports/impact-assessment", {D}),
        ("GET", "/v1/audit/events", {U, D}),
        ("GET", "/v1/audit/justifications", {U, D}),
        ("GET", "/v1/audit/events/export", {U}),
        ("GET", "/v1/audit/verify", {U}),
        ("GET", "/v1/audit/verify/runs", {U}),
        ("GET", "/v1/audit/checkpoints", {U}),
        ("GET", "/v1/audit/public-key", {U}),
        ("POST", "/v1/principals", {A}),
        ("GET", "/v1/principals", {A}),
        ("POST", "/v1/principals/{}/disable", {A}),
        ("POST", "/v1/principals/{}/tokens", {A}),
        ("POST", "/v1/tokens/{}/revoke", {A}),
        ("GET", "/v1/principals/{}/tokens", {A}),
        ("GET", "/v1/admin/keys", {A}),
    )
}

# A purpose the endpoint can take in its query, so the gate's event shows it is logged.
QUERY_PURPOSE: dict[tuple[str, str], str] = {
    ("GET", "/v1/customers/{}"): "order_confirmation",
    ("PATCH", "/v1/customers/{}"): "customer_self_service",
    ("GET", "/v1/partner/customers/{}"): "order_fulfillment",
    ("GET", "/v1/customers/{}/documents/{}"): "accounting",
}

PUBLIC = {"/v1/policy"}
OPENAPI: dict[str, Any] = create_app(Settings(_env_file=None)).openapi()  # type: ignore[call-arg]


def template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def authenticated_operations() -> list[tuple[str, str]]:
    """Every (method, path) the app serves under /v1/ that needs a token."""
    return [
        (method.upper(), path)
        for path, item in OPENAPI["paths"].items()
        if path.startswith("/v1/") and path not in PUBLIC
        for method in item
    ]


OPERATIONS = authenticated_operations()


def in_future(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def hand_body(method: str, path: str) -> Any:
    """Valid bodies, so body validation can never be what answers instead of the gate."""
    some_id = str(uuid.uuid4())
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/v1/customers"): customer_body(),
        ("POST", "/v1/customers/batch"): {"items": [customer_body()]},
        ("POST", "/v1/customers/search"): {
            "email": "khach.mau.tim@example.com",
            "purpose": "order_confirmation",
        },
        ("PATCH", "/v1/customers/{}"): {"address": "Số 9 Đường Ví Dụ, Phường Mẫu, Hà Nội"},
        ("POST", "/v1/partners"): {"name": "Lắp Đặt Mẫu", "contract_ref": "HD-MAU-2026-002"},
        ("POST", "/v1/partners/{}/grants"): {
            "contract_ref": "HD-MAU-2026-002",
            "purposes": ["order_fulfillment"],
            "fields": {"full_name": "masked", "phone": "plain"},
            "valid_from": in_future(-1),
            "valid_until": in_future(30),
        },
        ("POST", "/v1/partners/{}/assignments"): {
            "customer_id": some_id,
            "purpose": "order_fulfillment",
            "reference": "DH-MAU-0001",
            "expires_at": in_future(7),
        },
        ("POST", "/v1/judicial-requests"): {
            "authority_type": "court",
            "authority_name": "Tòa án nhân dân Mẫu",
            "document_number": "123/2026/QĐ-MAU",
            "document_date": "2026-01-01",
            "legal_basis": "Điều mẫu, Bộ luật Tố tụng (ví dụ)",
            "case_reference": "VA-MAU-0001",
            "customer_ids": [some_id],
            "fields": ["full_name", "phone"],
            "valid_until": in_future(30),
        },
        ("POST", "/v1/judicial-requests/{}/reject"): {"reason": "Thiếu chữ ký (ví dụ)"},
        ("POST", "/v1/principals"): {"name": "mau-auditor", "role": "auditor"},
        ("POST", "/v1/principals/{}/tokens"): {"expires_in_days": 7},
    }
    return bodies.get((method, template(path)))


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None and schema.get("anyOf"):
        ref = next((s["$ref"] for s in schema["anyOf"] if "$ref" in s), None)
    if ref is None:
        return schema
    resolved: dict[str, Any] = OPENAPI["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return resolved


def documented_body(operation: dict[str, Any]) -> Any:
    """For routes added after this file: the example their OpenAPI document gives."""
    content = operation.get("requestBody", {}).get("content", {})
    media = content.get("application/json")
    if media is None:
        return None
    if "example" in media:
        return media["example"]
    schema = media.get("schema", {})
    for candidate in (schema, resolve(schema)):
        if candidate.get("examples"):
            return candidate["examples"][0]
    return {}


def purpose_for(role: str, method: str, path: str, default: str) -> str:
    """A purpose whose row lists the role (so an allowed role meets no table-level
    ``role_not_permitted``), else the default."""
    access = "write" if method == "PATCH" else "read"
    if template(path).endswith("/documents/{}"):
        access = "documents"
    for purpose, row in TABLE.items():
        if role in row.roles and access in row.access and purpose != "registration":
            return purpose
    return default


def request_for(method: str, path: str, role: str | None = None) -> dict[str, Any]:
    """Path ids random, a plausible body and purpose, If-Match where one is needed."""
    operation = OPENAPI["paths"][path][method.lower()]
    url = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)
    kwargs: dict[str, Any] = {"method": method, "url": url, "headers": {}}
    names = {p["name"] for p in operation.get("parameters", [])}
    purpose = QUERY_PURPOSE.get((method, template(path)))
    if purpose is None and "purpose" in names:
        purpose = "order_confirmation"
    if purpose is not None:
        kwargs["params"] = {"purpose": purpose_for(role or "", method, path, purpose)}
    if "if-match" in names:
        kwargs["headers"]["If-Match"] = '"1"'
    body = hand_body(method, path)
    if body is None:
        body = documented_body(operation)
    if isinstance(body, dict) and "purpose" in body and "customer_id" not in body:
        body["purpose"] = purpose_for(role or "", method, path, body["purpose"])
    content = operation.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        kwargs["files"] = {"file": ("hoa-don-mau.pdf", b"%PDF-1.4 fake", "application/pdf")}
        kwargs["data"] = {"kind": "invoice", "order_ref": "DH-MAU-0001"}
    elif body is not None:
        kwargs["json"] = body
    return kwargs


def path_customer_id(path: str, url: str) -> str | None:
    """The customer id a path names (the gate logs it), or None."""
    match = re.fullmatch(re.sub(r"\{[^}]+\}", "([^/]+)", path), url)
    assert match is not None
    names = re.findall(r"\{([^}]+)\}", path)
    return dict(zip(names, match.groups(), strict=True)).get("customer_id")


def test_every_authenticated_route_is_in_api_md() -> None:
    """New routes must get their role column here (and in docs/api.md) to be gate-tested."""
    unknown = [(m, p) for m, p in OPERATIONS if (m, template(p)) not in API_ROLES]
    assert not unknown, f"routes without an docs/api.md role column: {unknown}"
    assert len(OPERATIONS) >= 25


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=lambda v: str(v))
async def test_gate(
    client: httpx.AsyncClient, cast: Cast, tail: EventTail, method: str, path: str
) -> None:
    allowed = API_ROLES.get((method, template(path)))
    assert allowed is not None, f"{method} {path} has no role column in docs/api.md"
    await tail.mark()

    for headers in ({}, {"Authorization": "Bearer pdv_not-a-token-that-exists-anywhere-0000"}):
        kwargs = request_for(method, path)
        kwargs["headers"].update(headers)
        r = await client.request(**kwargs)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers.get("www-authenticate", "").lower().startswith("bearer")
    await tail.new()

    operations: set[str] = set()
    for role in ROLES:
        kwargs = request_for(method, path, role)
        kwargs["headers"].update(cast.headers(role))
        r = await client.request(**kwargs)
        events = await tail.new()
        gated = [e for e in events if e["reason"] == "role_not_permitted"]
        if role in allowed:
            assert r.status_code != 401, (role, r.text)
            assert not (r.status_code == 403 and r.json().get("reason") == "role_not_permitted")
            assert not gated, (role, gated)
            continue
        assert r.status_code == 403, (role, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["reason"] == "role_not_permitted", (role, r.text)
        assert len(events) == 1, (role, events)
        event = events[0]
        assert event["outcome"] == "denied"
        assert event["reason"] == "role_not_permitted"
        assert event["role"] == role
        assert str(event["principal_id"]) == cast.by_role[role].principal_id
        assert event["fields"] in ([], None)
        customer_id = path_customer_id(path, kwargs["url"])
        assert (str(event["customer_id"]) if event["customer_id"] else None) == customer_id
        assert event["purpose"] == (kwargs.get("params") or {}).get("purpose")
        operations.add(event["action"])

    # One operation per route, and its ALLOWED_ROLES are docs/api.md's column.
    assert len(operations) == 1, operations
    operation = Operation(operations.pop())
    assert {r.value for r in ALLOWED_ROLES[operation]} == allowed, operation


def test_the_contract_names_each_operations_roles() -> None:
    """The served OpenAPI says who may call each operation, and says what docs/api.md says."""
    for method, path in OPERATIONS:
        operation = OPENAPI["paths"][path][method.lower()]
        expected = sorted(API_ROLES[(method, template(path))])
        assert operation.get("x-pdvault-roles") == expected, (method, path)
        assert f"Roles: {', '.join(expected)}." in operation["description"], (method, path)
