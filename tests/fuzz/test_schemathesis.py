"""Schemathesis against the served OpenAPI document, on a real uvicorn on 127.0.0.1.

Every operation of ``/openapi.json`` (as the server serves it) is fuzzed with the token of every
role of docs/policy.md and with no token: valid requests (``positive``) and requests that break
the schema (``negative``). Each answer must not be a 5xx, must carry a status code the document
lists for the operation, the content type it lists for that status, and a body matching the
documented schema. Real objects are seeded first (customers, a partner with a grant and an
assignment, a document, judicial, deletion and access requests, a complaint, a breach and its
notices) and path ids (and ids in bodies and queries) are swapped for known ones part of the
time, so requests reach the code behind the 404s.

Generation has a fixed seed per operation and caller, no shrinking phase (failures are
collected, never raised into Hypothesis) and no deadline, so a run is reproducible and bounded
(about a minute and a half per engine on two cores). The requests sent are counted and
asserted, per operation and caller too, so the test fails if generation silently shrinks.
"""

from __future__ import annotations

import asyncio
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pdvault.config import Settings
from pdvault.policy import Role
from pdvault.principals.bootstrap import create_principal_with_token
from pdvault.principals.schemas import PrincipalIn
from tests.authz.test_endpoint_gates import API_ROLES, template
from tests.conftest import customer_body
from tests.policy.expected import ROLES

pytestmark = pytest.mark.e2e

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

# Examples per operation and caller: more where the caller's role may call the operation (the
# gate lets the request through to validation and the handler), a few where the gate answers.
# PDVAULT_TEST_FUZZ_SCALE multiplies both for a deeper run by hand (CI uses 1).
SCALE = int(os.environ.get("PDVAULT_TEST_FUZZ_SCALE", "1"))
ALLOWED_EXAMPLES = 10 * SCALE
GATED_EXAMPLES = 1 * SCALE
EXAMPLE_DRAWS = 4
MIN_REQUESTS = 1000

# The limit on repeated bad tokens (429) raised to its maximum: generated requests may carry
# malformed Authorization headers, and a lockout would turn the rest of the run into 429s.
SERVER_ENV = {"PDVAULT_AUTH_FAILURE_LIMIT": "1000"}

ANONYMOUS = "anonymous"
PLAIN = "plain"


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


@dataclass
class Seed:
    """Real objects on the server and the tokens of the callers."""

    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, value: str) -> None:
        self.ids.setdefault(kind, []).append(value)


class Seeder:
    def __init__(self, client: httpx.Client, admin_token: str) -> None:
        self.client = client
        self.seed = Seed(tokens={"admin": admin_token})

    def call(self, method: str, path: str, who: str, status: int, **kw: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.seed.tokens[who]}", **kw.pop("headers", {})}
        r = self.client.request(method, path, headers=headers, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        body: dict[str, Any] = r.json()
        return body

    def principal(self, role: str, name: str, partner_id: str | None = None) -> tuple[str, str]:
        body: dict[str, Any] = {"name": name, "role": role}
        if partner_id is not None:
            body["partner_id"] = partner_id
        pid = self.call("POST", "/v1/principals", "admin", 201, json=body)["id"]
        issued = self.call(
            "POST", f"/v1/principals/{pid}/tokens", "admin", 201, json={"expires_in_days": 2}
        )
        return str(pid), str(issued["token"]), str(issued["id"])

    def run(self) -> Seed:
        s = self.seed
        partner = self.call(
            "POST",
            "/v1/partners",
            "admin",
            201,
            json={"name": "Giao Hàng Mẫu Fuzz", "contract_ref": "HD-MAU-FUZZ"},
        )["id"]
        s.add("partner", partner)
        for role in ROLES:
            if role != "admin":
                _, token, _ = self.principal(
                    role, f"fuzz-{role}", partner if role == "partner" else None
                )
                s.tokens[role] = token
        # Principals and tokens the fuzzer may disable and revoke: never the callers' own.
        decoy_pid, _, decoy_tid = self.principal("employee", "fuzz-decoy")
        s.add("principal", decoy_pid)
        s.add("token", decoy_tid)

        grant = {
            "contract_ref": "HD-MAU-FUZZ",
            "purposes": ["order_fulfillment"],
            "fields": {"full_name": "masked", "phone": "masked", "email": PLAIN, "address": PLAIN},
            "valid_from": in_days(-1),
            "valid_until": in_days(30),
        }
        self.call("POST", f"/v1/partners/{partner}/grants", "admin", 201, json=grant)
        # A second grant the fuzzer may revoke, so the first keeps the partner's reads going.
        decoy_grant = self.call("POST", f"/v1/partners/{partner}/grants", "admin", 201, json=grant)[
            "id"
        ]
        s.add("grant", decoy_grant)

        customers = [
            self.call("POST", "/v1/customers", "storefront", 201, json=customer_body())["id"]
            for _ in range(3)
        ]
        for cid in customers:
            s.add("customer", cid)
        first, second, third = customers
        for cid, keep in ((first, True), (second, False)):
            assignment = self.call(
                "POST",
                f"/v1/partners/{partner}/assignments",
                "storefront",
                201,
                json={
                    "customer_id": cid,
                    "purpose": "order_fulfillment",
                    "reference": "DH-MAU-FUZZ",
                    "expires_at": in_days(7),
                },
            )["id"]
            if not keep:  # only the second assignment is offered to the revoke operation
                s.add("assignment", assignment)

        document = self.call(
            "POST",
            f"/v1/customers/{first}/documents",
            "storefront",
            201,
            files={"file": ("hoa-don.txt", b"Hoa don mau 0001\n", "text/plain")},
            data={"kind": "invoice", "order_ref": "DH-MAU-0001"},
        )["id"]
        s.add("document", document)

        judicial = {
            "authority_type": "court",
            "authority_name": "Tòa án Nhân dân Mẫu",
            "document_number": "12/QĐ-TA-MAU",
            "document_date": "2026-11-02",
            "legal_basis": "Điều mẫu, Bộ luật Tố tụng dân sự (ví dụ)",
            "case_reference": "VA-MAU-0012",
            "customer_ids": [first],
            "fields": ["full_name", "phone"],
            "valid_until": in_days(30),
        }
        approved = self.call("POST", "/v1/judicial-requests", "legal", 201, json=judicial)["id"]
        self.call("POST", f"/v1/judicial-requests/{approved}/approve", "dpo", 200)
        pending = self.call("POST", "/v1/judicial-requests", "legal", 201, json=judicial)["id"]
        s.add("judicial", approved)
        s.add("judicial", pending)

        # The third customer is erased, so its id answers 410 everywhere.
        erased = self.call(
            "POST",
            "/v1/deletion-requests",
            "storefront",
            201,
            json={"customer_id": third, "channel": "storefront"},
        )["id"]
        self.call("POST", f"/v1/deletion-requests/{erased}/approve", "dpo", 200)
        pending_deletion = self.call(
            "POST",
            "/v1/deletion-requests",
            "storefront",
            201,
            json={"customer_id": second, "channel": "storefront"},
        )["id"]
        s.add("deletion", erased)
        s.add("deletion", pending_deletion)

        access = self.call(
            "POST",
            "/v1/access-requests",
            "storefront",
            201,
            json={"customer_id": first, "channel": "storefront"},
        )["id"]
        s.add("access", access)

        complaint = self.call(
            "POST",
            "/v1/complaints",
            "storefront",
            201,
            json={
                "customer_id": first,
                "category": "misuse",
                "channel": "hotline",
                "description": "Khiếu nại mẫu cho kiểm thử",
            },
        )["id"]
        s.add("complaint", complaint)

        breach = self.call(
            "POST",
            "/v1/breaches",
            "dpo",
            201,
            json={
                "detected_at": in_days(-1),
                "summary": "Sự cố mẫu cho kiểm thử.",
                "data_categories": ["email"],
                "customer_ids": [first],
            },
        )["id"]
        s.add("breach", breach)
        self.call("POST", f"/v1/breaches/{breach}/subject-notifications", "dpo", 200)
        notices = self.call("GET", "/v1/notifications", "storefront", 200)["items"]
        assert notices, "the breach's subject notification should be in the outbox"
        for notice in notices:
            s.add("notification", notice["id"])
        return s


# Which kind of seeded id a path parameter takes, by the path's first segment after /v1/.
PATH_KINDS: dict[str, str] = {
    "judicial-requests": "judicial",
    "deletion-requests": "deletion",
    "access-requests": "access",
}
PARAM_KINDS: dict[str, str] = {
    "customer_id": "customer",
    "document_id": "document",
    "partner_id": "partner",
    "grant_id": "grant",
    "assignment_id": "assignment",
    "notification_id": "notification",
    "complaint_id": "complaint",
    "breach_id": "breach",
    "principal_id": "principal",
    "token_id": "token",
}


def kind_of(path: str, param: str) -> str | None:
    if param == "request_id":
        return PATH_KINDS.get(path.split("/")[2])
    return PARAM_KINDS.get(param)


def use_known_ids(case: Any, seed: Seed, pick: int) -> None:
    """Swap generated ids for seeded ones (``pick`` chooses which, and 0 keeps them)."""
    if pick == 0:
        return
    path = case.operation.path
    for name, value in list((case.path_parameters or {}).items()):
        kind = kind_of(path, name)
        if kind and isinstance(value, str):
            pool = seed.ids[kind]
            case.path_parameters[name] = pool[pick % len(pool)]
    customers = seed.ids["customer"]
    if isinstance(case.body, dict):
        if isinstance(case.body.get("customer_id"), str):
            case.body["customer_id"] = customers[pick % len(customers)]
        if isinstance(case.body.get("customer_ids"), list) and case.body["customer_ids"]:
            case.body["customer_ids"] = [customers[pick % len(customers)]]
    if isinstance(case.query, dict) and isinstance(case.query.get("customer_id"), str):
        case.query["customer_id"] = customers[pick % len(customers)]


@dataclass
class Target:
    """Where and as whom the cases go."""

    seed: Seed
    base_url: str
    session: requests.Session
    tally: Tally


# A purpose under which each role's reads succeed on the seeded customers (the dpo's holds:
# the first customer has an open access request, which opens its export, and the second a
# pending deletion request, which opens plain reads), for the operations that take one.
READ_PURPOSE: dict[tuple[str, str], str] = {
    ("/v1/customers/{customer_id}", "employee"): "order_confirmation",
    ("/v1/customers/{customer_id}", "storefront"): "customer_self_service",
    ("/v1/customers/{customer_id}", "dpo"): "data_subject_request",
    ("/v1/partner/customers/{customer_id}", "partner"): "order_fulfillment",
    ("/v1/customers/{customer_id}/documents/{document_id}", "employee"): "accounting",
    ("/v1/customers/{customer_id}/documents/{document_id}", "storefront"): "customer_self_service",
    ("/v1/customers/{customer_id}/export", "storefront"): "customer_self_service",
    ("/v1/customers/{customer_id}/export", "dpo"): "data_subject_request",
}


def use_known_purpose(case: Any, seed: Seed, caller: str, pick: int) -> str | None:
    """Part of the time, a purpose the caller's reads succeed with, and mostly on the first
    customer (assigned to the partner, under an open request) with no ``fields``, which random
    text rarely gets right; the purpose set, if any."""
    purpose = READ_PURPOSE.get((case.operation.path, caller))
    if case.operation.method.upper() == "PATCH" and caller in {"storefront", "dpo"}:
        purpose = READ_PURPOSE[("/v1/customers/{customer_id}", caller)]
    if purpose is None or pick not in {2, 3, 4}:
        return None
    query = dict(case.query or {})
    query["purpose"] = purpose
    if pick != 2:
        query.pop("fields", None)
        case.path_parameters["customer_id"] = seed.ids["customer"][0]
    case.query = query
    return purpose


def use_current_etag(case: Any, target: Target, headers: dict[str, str], purpose: str) -> None:
    """A PATCH with the ETag of a fresh read, so the update itself is what answers."""
    customer = case.path_parameters["customer_id"]
    r = target.session.get(
        f"{target.base_url}/v1/customers/{customer}",
        params={"purpose": purpose},
        headers=headers,
        timeout=30,
    )
    if r.status_code == 200:
        case.headers = {**(case.headers or {}), "If-Match": r.headers["ETag"]}


def allowed_roles(method: str, path: str) -> frozenset[str]:
    """docs/api.md's role column; an operation outside it (public) admits every caller."""
    return API_ROLES.get((method, template(path)), frozenset([*ROLES, ANONYMOUS]))


@dataclass
class Tally:
    sent: int = 0
    pairs: set[tuple[str, str]] = field(default_factory=set)
    statuses: dict[int, int] = field(default_factory=dict)
    by_operation: dict[str, set[int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    failures: dict[tuple[str, str, int], list[str]] = field(default_factory=dict)

    def record(self, label: str, caller: str, status: int) -> None:
        self.sent += 1
        self.pairs.add((label, caller))
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.by_operation.setdefault(label, set()).add(status)

    def fail(self, label: str, caller: str, status: int, failure: Failure, case: Any) -> None:
        key = (label, failure.title, status)
        seen = self.failures.setdefault(key, [])
        if not seen:
            seen.append(f"{failure.message[:600]}\n    {case.as_curl_command()[:400]}")
        seen.append(caller)

    def report(self) -> str:
        return "\n\n".join(
            f"{label}: {title} ({status}) as {sorted(set(seen[1:]))}, {len(seen) - 1}x\n{seen[0]}"
            for (label, title, status), seen in sorted(self.failures.items())
        )


def fuzz(
    operation: Any,
    strategy: Any,
    caller: str,
    token: str | None,
    target: Target,
    examples: int,
    *,
    always_known: bool = False,
) -> None:
    """Send ``examples`` cases drawn from ``strategy``; collect every check failure."""
    label = f"{operation.method.upper()} {operation.path}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    tally = target.tally

    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @hypothesis.seed(zlib.crc32(f"{label} {caller} {always_known}".encode()))
    @hypothesis.given(case=strategy, pick=st.integers(min_value=int(always_known), max_value=5))
    def run(case: Any, pick: int) -> None:
        use_known_ids(case, target.seed, pick)
        purpose = use_known_purpose(case, target.seed, caller, pick)
        if purpose is not None and case.operation.method.upper() == "PATCH":
            use_current_etag(case, target, headers, purpose)
        try:
            response = case.call(
                base_url=target.base_url, session=target.session, headers=headers, timeout=30
            )
        except requests.RequestException as exc:
            tally.errors.append(f"{label} as {caller}: request failed: {type(exc).__name__}")
            return
        tally.record(label, caller, response.status_code)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:  # every failure is collected; nothing is shrunk
            for failure in group.exceptions:
                tally.fail(label, caller, response.status_code, failure, case)
        except Failure as failure:
            tally.fail(label, caller, response.status_code, failure, case)

    run()


@pytest.fixture
def admin_token(database_url: str) -> Callable[[], str]:
    def _make() -> str:
        settings = Settings(database_url=database_url, _env_file=None)  # type: ignore[call-arg]
        data = PrincipalIn(name="fuzz-admin", role=Role.ADMIN)
        return asyncio.run(create_principal_with_token(settings, data, 1))

    return _make


def test_every_operation_as_every_role_conforms(
    live_server_factory: Callable[..., Any], admin_token: Callable[[], str]
) -> None:
    server = live_server_factory(workers=1, **SERVER_ENV)
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        seed = Seeder(client, admin_token()).run()

    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json", timeout=30)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 60, "the served document lost operations"
    callers: list[tuple[str, str | None]] = [(r, seed.tokens[r]) for r in ROLES]
    callers.append((ANONYMOUS, None))

    tally = Tally()
    with requests.Session() as session:
        target = Target(seed, server.base_url, session, tally)
        for operation in operations:
            allowed = allowed_roles(operation.method.upper(), operation.path)
            generated = st.one_of(
                operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
            )
            # The document's own examples, with seeded ids: valid requests that reach the
            # handlers' success and conflict paths, which random bodies rarely do.
            documented = schema.get_strategies_from_examples(operation)
            for caller, token in callers:
                examples = ALLOWED_EXAMPLES if caller in allowed else GATED_EXAMPLES
                fuzz(operation, generated, caller, token, target, examples)
                if documented and caller in allowed:
                    strategy = st.one_of(*documented)
                    fuzz(
                        operation, strategy, caller, token, target, EXAMPLE_DRAWS, always_known=True
                    )

    print(f"fuzz: {tally.sent} requests, statuses {sorted(tally.statuses.items())}")
    for label, statuses in sorted(tally.by_operation.items()):
        print(f"  {label}: {sorted(statuses)}")
    assert not tally.errors, tally.errors[:20]
    assert not tally.failures, f"{len(tally.failures)} distinct failures:\n\n{tally.report()}"
    expected_pairs = {
        (f"{op.method.upper()} {op.path}", caller) for op in operations for caller, _ in callers
    }
    assert tally.pairs == expected_pairs, sorted(expected_pairs - tally.pairs)[:10]
    assert tally.sent >= MIN_REQUESTS, (tally.sent, tally.statuses)
    # Requests got past the gate and validation into the handlers, and reached real objects:
    # every operation answered something other than 401/403, most of them a success too.
    gated_only = [op for op, seen in tally.by_operation.items() if seen <= {401, 403}]
    assert not gated_only, gated_only
    succeeded = [op for op, seen in tally.by_operation.items() if min(seen) < 300]
    assert len(succeeded) >= 0.8 * len(operations), sorted(set(tally.by_operation) - set(succeeded))
    assert tally.statuses.get(404, 0) > 0, tally.statuses
    assert tally.statuses.get(410, 0) > 0, tally.statuses
