"""The rule table as the engine applies it, the endpoint gates, and the public /v1/policy.

Every expectation comes from ``expected.TABLE`` (transcribed from docs/policy.md) or docs/api.md,
never from ``pdvault.policy.rules``.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import pytest

from pdvault.policy import (
    ALLOWED_ROLES,
    Access,
    Denial,
    Operation,
    Permit,
    Reason,
    Role,
    authorize,
    may_call,
)
from tests.policy.expected import (
    ALL,
    FIELD_REQUESTS,
    LEGAL_PURPOSES,
    PURPOSES_TRIED,
    ROLES,
    TABLE,
)

Expected = tuple[str, tuple[str, ...]] | tuple[str, Reason]


def expected_outcome(
    role: str, purpose: str | None, requested: Sequence[str] | None, access: str
) -> Expected:
    """What docs/policy.md says: unknown purpose (or access kind) → role → field, in that order."""
    row = TABLE.get(purpose) if purpose else None
    if row is None or access not in row.access:
        return ("deny", Reason.PURPOSE_NOT_PERMITTED)
    if role not in row.roles:
        return ("deny", Reason.ROLE_NOT_PERMITTED)
    if access == "documents":
        return ("permit", ())
    if requested is None:
        return ("permit", row.fields)
    if any(f not in row.fields for f in requested):
        return ("deny", Reason.FIELD_NOT_PERMITTED)
    return ("permit", tuple(f for f in row.fields if f in requested))


def actual_outcome(
    role: str, purpose: str | None, requested: Sequence[str] | None, access: str
) -> Expected:
    result = authorize(role, purpose, requested, Access(access))
    if isinstance(result, Denial):
        assert result.purpose == purpose
        return ("deny", result.reason)
    assert isinstance(result, Permit)
    assert result.role == role
    assert result.access == access
    assert result.rule.purpose == purpose
    return ("permit", result.fields)


def _mismatches(role: str, purpose: str | None, access: str) -> list[str]:
    out = []
    for subset in FIELD_REQUESTS:
        # Ask in reverse order: a permit must list its fields in the row's order.
        requested = None if subset is None else list(reversed(subset))
        want = expected_outcome(role, purpose, requested, access)
        got = actual_outcome(role, purpose, requested, access)
        if want != got:
            out.append(f"fields={requested}: expected {want}, got {got}")
    return out


@pytest.mark.parametrize("purpose", PURPOSES_TRIED)
@pytest.mark.parametrize("role", ROLES)
def test_read_matrix(role: str, purpose: str | None) -> None:
    assert _mismatches(role, purpose, "read") == []


@pytest.mark.parametrize("purpose", PURPOSES_TRIED)
@pytest.mark.parametrize("role", ROLES)
def test_write_matrix(role: str, purpose: str | None) -> None:
    assert _mismatches(role, purpose, "write") == []


@pytest.mark.parametrize("purpose", PURPOSES_TRIED)
@pytest.mark.parametrize("role", ROLES)
def test_create_matrix(role: str, purpose: str | None) -> None:
    assert _mismatches(role, purpose, "create") == []


@pytest.mark.parametrize("purpose", PURPOSES_TRIED)
@pytest.mark.parametrize("role", ROLES)
def test_documents_matrix(role: str, purpose: str | None) -> None:
    want = expected_outcome(role, purpose, None, "documents")
    assert actual_outcome(role, purpose, None, "documents") == want


def test_matrix_expectations_are_not_vacuous() -> None:
    """The transcription itself: who may write, who may reach documents, what READ refuses."""
    writers = {
        (r, p) for p in TABLE for r in ROLES if expected_outcome(r, p, None, "write")[0] == "permit"
    }
    assert writers == {
        ("storefront", "customer_self_service"),
        ("dpo", "data_subject_request"),
    }
    documents = {
        (r, p)
        for p in TABLE
        for r in ROLES
        if expected_outcome(r, p, None, "documents")[0] == "permit"
    }
    assert documents == {("employee", "accounting"), ("storefront", "customer_self_service")}


@pytest.mark.parametrize("role", ["storefront", "employee"])
def test_registration_is_write_only(role: str) -> None:
    denial = authorize(role, "registration", None, Access.READ)
    assert isinstance(denial, Denial)
    assert denial.reason is Reason.PURPOSE_NOT_PERMITTED
    permit = authorize(role, "registration", None, Access.CREATE)
    assert isinstance(permit, Permit)
    # Registration creates customers; it never corrects one (PATCH with it is refused).
    denial = authorize(role, "registration", None, Access.WRITE)
    assert isinstance(denial, Denial)
    assert denial.reason is Reason.PURPOSE_NOT_PERMITTED
    assert permit.fields == ALL


def test_accounting_is_documents_only() -> None:
    for requested in FIELD_REQUESTS:
        denial = authorize("employee", "accounting", requested, Access.READ)
        assert isinstance(denial, Denial)
        assert denial.reason is Reason.PURPOSE_NOT_PERMITTED
    permit = authorize("employee", "accounting", None, Access.DOCUMENTS)
    assert isinstance(permit, Permit)
    assert permit.fields == ()
    denial = authorize("storefront", "accounting", None, Access.DOCUMENTS)
    assert isinstance(denial, Denial)
    assert denial.reason is Reason.ROLE_NOT_PERMITTED


@pytest.mark.parametrize("access", list(Access))
def test_unknown_role_string_is_refused(access: Access) -> None:
    for purpose in TABLE:
        result = authorize("customer", purpose, None, access)
        assert isinstance(result, Denial)
        assert result.reason in {Reason.PURPOSE_NOT_PERMITTED, Reason.ROLE_NOT_PERMITTED}


def test_unknown_field_is_refused_even_beside_allowed_ones() -> None:
    denial = authorize("employee", "order_confirmation", ["full_name", "national_id"], Access.READ)
    assert isinstance(denial, Denial)
    assert denial.reason is Reason.FIELD_NOT_PERMITTED


def test_empty_field_list_is_not_the_default() -> None:
    """``[]`` is an explicit request for nothing, never widened to the row's fields."""
    result = authorize("employee", "order_confirmation", [], Access.READ)
    assert isinstance(result, Denial)
    assert result.reason is Reason.FIELD_NOT_PERMITTED


def test_repeated_field_is_reported_once() -> None:
    permit = authorize("employee", "marketing", ["email", "email", "full_name"], Access.READ)
    assert isinstance(permit, Permit)
    assert permit.fields == ("full_name", "email")


# -- endpoint gates: docs/api.md's role columns ------------------------------------------------

API_ROLES: dict[str, frozenset[str]] = {
    "customer.create": frozenset({"storefront", "employee"}),
    "customer.batch": frozenset({"storefront", "employee"}),
    "customer.read": frozenset({"employee", "storefront", "dpo"}),
    "customer.search": frozenset({"employee", "storefront", "dpo"}),
    "customer.update": frozenset({"storefront", "dpo"}),
    "principal.create": frozenset({"admin"}),
    "principal.list": frozenset({"admin"}),
    "principal.disable": frozenset({"admin"}),
    "token.create": frozenset({"admin"}),
    "token.revoke": frozenset({"admin"}),
    "token.list": frozenset({"admin"}),
    "keys.status": frozenset({"admin"}),
    "partner.create": frozenset({"admin"}),
    "partner.list": frozenset({"admin"}),
    "grant.create": frozenset({"admin"}),
    "grant.list": frozenset({"admin"}),
    "grant.revoke": frozenset({"admin"}),
    "assignment.create": frozenset({"employee", "storefront"}),
    "assignment.revoke": frozenset({"employee", "storefront", "admin"}),
    "partner.assignments": frozenset({"partner"}),
    "partner.customer.read": frozenset({"partner"}),
    "judicial.file": frozenset({"legal", "dpo"}),
    "judicial.list": frozenset({"legal", "dpo", "auditor"}),
    "judicial.read": frozenset({"legal", "dpo", "auditor"}),
    "judicial.decide": frozenset({"dpo"}),
    "judicial.disclose": frozenset({"legal", "dpo"}),
    "audit.events": frozenset({"auditor", "dpo"}),
    "audit.justifications": frozenset({"auditor", "dpo"}),  # issue 14.8
    "audit.export": frozenset({"auditor"}),
    "audit.verify": frozenset({"auditor"}),
    "audit.checkpoints": frozenset({"auditor"}),
    "audit.public_key": frozenset({"auditor"}),
    "customer.access_report": frozenset({"storefront", "dpo"}),
    "notification.list": frozenset({"storefront"}),
    "notification.ack": frozenset({"storefront"}),
    "document.upload": frozenset({"storefront", "employee"}),
    "document.list": frozenset({"storefront", "employee", "dpo"}),
    "document.read": frozenset({"employee", "storefront"}),
    "customer.export": frozenset({"storefront", "dpo"}),
    "consent.read": frozenset({"storefront", "dpo", "employee"}),
    "consent.record": frozenset({"storefront", "dpo"}),
    "deletion.file": frozenset({"storefront", "dpo"}),
    "deletion.list": frozenset({"dpo", "auditor"}),
    "deletion.read": frozenset({"dpo", "auditor"}),  # an extension: the list's roles
    "deletion.decide": frozenset({"dpo"}),
    # Access requests, an extension (docs/decisions.md), mirror deletion requests.
    "access_request.file": frozenset({"storefront", "dpo"}),
    "access_request.list": frozenset({"dpo", "auditor"}),
    "access_request.read": frozenset({"dpo", "auditor"}),
    "access_request.decide": frozenset({"dpo"}),
    "complaint.file": frozenset({"storefront", "employee", "dpo"}),
    "complaint.list": frozenset({"dpo", "auditor"}),
    "complaint.read": frozenset({"dpo", "auditor"}),
    "complaint.transition": frozenset({"dpo"}),
    "breach.record": frozenset({"dpo"}),
    "breach.list": frozenset({"dpo", "auditor"}),
    "breach.read": frozenset({"dpo", "auditor"}),
    "breach.notify_authority": frozenset({"dpo"}),
    "breach.notify_subjects": frozenset({"dpo"}),
    "report.compliance": frozenset({"dpo", "auditor"}),
    "breach.authority_notice": frozenset({"dpo"}),
    "report.impact_assessment": frozenset({"dpo"}),
}


def test_every_gated_operation_has_an_expectation() -> None:
    """A new operation must get a row here (from docs/api.md) before its gate counts as tested."""
    assert {op.value for op in Operation} == set(API_ROLES)
    assert set(ALLOWED_ROLES) == set(Operation)


@pytest.mark.parametrize("operation", list(Operation))
def test_may_call_matches_api_md(operation: Operation) -> None:
    for role in ROLES:
        assert may_call(role, operation) is (role in API_ROLES[operation.value]), role
        assert may_call(Role(role), operation) is (role in API_ROLES[operation.value]), role
    assert may_call("customer", operation) is False


# -- the public policy document ------------------------------------------------------------


async def test_public_policy_exposes_the_table(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/policy")  # anonymous
    assert r.status_code == 200, r.text
    body = r.json()
    served = {p["purpose"]: p for p in body["purposes"]}
    assert len(served) == len(body["purposes"]), "a purpose listed twice"
    assert set(served) == set(TABLE)
    for purpose, row in TABLE.items():
        entry = served[purpose]
        assert set(entry["roles"]) == row.roles, purpose
        assert len(entry["roles"]) == len(row.roles), purpose
        assert tuple(entry["fields"]) == row.fields, purpose
        assert set(entry["access"]) == row.access, purpose
        assert entry["legal"] is (purpose in LEGAL_PURPOSES), purpose
        assert isinstance(entry["description"], str)
        assert entry["description"], purpose

    controller = body["controller"]
    assert controller["name"].startswith("CÔNG TY CP CƠ ĐIỆN & XUẤT NHẬP KHẨU TOÀN CẦU")
    assert controller["address"] == "Km 26, Khê Than, Phú Nghĩa, Chương Mỹ, Hà Nội"
    assert controller["hotline"] == "0912 853 984"
    assert controller["email"] == "sales@tomexco.com"
    assert controller["website"] == "www.tomexco.com"
    assert isinstance(body["policy_version"], str)
    assert body["policy_version"]
    assert "Chính sách bảo mật" in body["text"]
