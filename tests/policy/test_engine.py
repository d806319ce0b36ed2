"""``decide``: the conditions of each row, consent withdrawal (R7.1), and invariants."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdvault.policy import (
    Access,
    AccessDecision,
    Denial,
    Facts,
    JudicialFacts,
    PartnerFacts,
    Permit,
    Reason,
    access_request_needs_reference,
    authorize,
    decide,
)
from tests.policy.expected import (
    ALL,
    LEGAL_PURPOSES,
    PURPOSES_TRIED,
    ROLES,
    TABLE,
)

COMPLAINT_BASIS = "complaint:7d1c0c8e-0000-4000-8000-000000000001"
SUBJECT_REQUEST_BASIS = "deletion_request:7d1c0c8e-0000-4000-8000-000000000002"
JUDICIAL_BASIS = "judicial_request:7d1c0c8e-0000-4000-8000-000000000003"
GRANT_BASIS = "grant:7d1c0c8e-0000-4000-8000-000000000004"


def permit(
    role: str,
    purpose: str,
    fields: Sequence[str] | None = None,
    access: Access = Access.READ,
) -> Permit:
    result = authorize(role, purpose, fields, access)
    assert isinstance(result, Permit), result
    return result


def assert_denied(decision: AccessDecision, reason: Reason) -> None:
    assert decision.allowed is False
    assert decision.reason is reason
    assert decision.masked == frozenset()


def assert_allowed(decision: AccessDecision, fields: tuple[str, ...]) -> None:
    assert decision.allowed is True
    assert decision.reason is None
    assert decision.fields == fields


# -- one test per row condition -------------------------------------------------------------


@pytest.mark.parametrize("role", ["storefront", "employee"])
def test_registration_needs_processing_consent(role: str) -> None:
    p = permit(role, "registration", access=Access.CREATE)
    assert_allowed(decide(p, Facts(processing_consent=True)), ALL)
    # The row's own condition: consent_required, not consent_withdrawn.
    assert_denied(decide(p, Facts(processing_consent=False)), Reason.CONSENT_REQUIRED)


def test_marketing_needs_marketing_consent_and_sees_name_and_email() -> None:
    p = permit("employee", "marketing")
    decision = decide(p, Facts(marketing_consent=True))
    assert_allowed(decision, ("full_name", "email"))
    assert decision.purpose == "marketing"
    assert_denied(decide(p, Facts(marketing_consent=False)), Reason.CONSENT_MISSING)
    assert_denied(decide(p, Facts()), Reason.CONSENT_MISSING)
    for extra in ("phone", "address"):
        denial = authorize("employee", "marketing", ["full_name", extra], Access.READ)
        assert isinstance(denial, Denial)
        assert denial.reason is Reason.FIELD_NOT_PERMITTED


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def test_special_case_support_needs_a_ten_character_justification() -> None:
    p = permit("employee", "special_case_support")
    nine = "Giao lại!"
    ten_vi = _nfc("Hoàn tiền!")
    assert len(_nfc(nine)) == 9
    assert len(ten_vi) == 10
    for short in (None, "", " " * 20, nine, f"   {nine}   ", f"\t{nine}\n", "   abc      "):
        decision = decide(p, Facts(justification=short))
        assert_denied(decision, Reason.JUSTIFICATION_REQUIRED)
    for enough in (ten_vi, f"  {ten_vi}  ", "Khách yêu cầu đổi địa chỉ giao hàng đơn DH-0001"):
        decision = decide(p, Facts(justification=enough))
        assert_allowed(decision, ALL)
        assert decision.basis == "justification"


@pytest.mark.parametrize("role", ["storefront", "employee"])
def test_legal_notice_needs_a_pending_notice(role: str) -> None:
    p = permit(role, "legal_notice")
    assert_allowed(decide(p, Facts(pending_notice=True)), ("full_name", "phone", "email"))
    assert_denied(decide(p, Facts(pending_notice=False)), Reason.NO_PENDING_NOTICE)


def test_complaint_handling_needs_an_open_complaint() -> None:
    p = permit("dpo", "complaint_handling")
    decision = decide(p, Facts(open_complaint_basis=COMPLAINT_BASIS))
    assert_allowed(decision, ALL)
    assert decision.basis == COMPLAINT_BASIS
    assert_denied(decide(p, Facts()), Reason.NO_OPEN_CASE)
    assert_denied(decide(p, Facts(open_complaint_basis="")), Reason.NO_OPEN_CASE)
    # An open subject request is not an open complaint.
    wrong_case = Facts(open_subject_request_basis=SUBJECT_REQUEST_BASIS)
    assert_denied(decide(p, wrong_case), Reason.NO_OPEN_CASE)


@pytest.mark.parametrize("access", [Access.READ, Access.WRITE])
def test_data_subject_request_needs_an_open_request(access: Access) -> None:
    p = permit("dpo", "data_subject_request", access=access)
    decision = decide(p, Facts(open_subject_request_basis=SUBJECT_REQUEST_BASIS))
    assert_allowed(decision, ALL)
    assert decision.basis == SUBJECT_REQUEST_BASIS
    assert_denied(decide(p, Facts()), Reason.NO_OPEN_CASE)
    wrong_case = Facts(open_complaint_basis=COMPLAINT_BASIS)
    assert_denied(decide(p, wrong_case), Reason.NO_OPEN_CASE)


ACCESS_REQUEST_BASIS = "access_request:7d1c0c8e-0000-4000-8000-000000000003"


def test_an_access_request_opens_the_export_and_nothing_else() -> None:
    """Issue 14.6: an open access request is a basis for the export only."""
    read = permit("dpo", "data_subject_request", access=Access.READ)
    export = Facts(open_access_request_basis=ACCESS_REQUEST_BASIS, export=True)
    decision = decide(read, export)
    assert_allowed(decision, ALL)
    assert decision.basis == ACCESS_REQUEST_BASIS
    plain = Facts(open_access_request_basis=ACCESS_REQUEST_BASIS)
    assert_denied(decide(read, plain), Reason.NO_OPEN_CASE)
    write = permit("dpo", "data_subject_request", access=Access.WRITE)
    assert_denied(decide(write, export), Reason.NO_OPEN_CASE)
    both = Facts(
        open_subject_request_basis=SUBJECT_REQUEST_BASIS,
        open_access_request_basis=ACCESS_REQUEST_BASIS,
    )
    assert decide(read, both).basis == SUBJECT_REQUEST_BASIS


def test_only_the_dpo_must_cite_a_persons_request() -> None:
    assert access_request_needs_reference("dpo")
    assert not access_request_needs_reference("storefront")


def _partner(**overrides: object) -> PartnerFacts:
    values: dict[str, object] = {
        "grant_found": True,
        "grant_valid": True,
        "assignment_valid": True,
        "field_modes": {"full_name": "plain", "phone": "masked", "address": "masked"},
        "basis": GRANT_BASIS,
    }
    values.update(overrides)
    return PartnerFacts(**values)  # type: ignore[arg-type]


def test_order_fulfillment_needs_grant_and_assignment() -> None:
    p = permit("partner", "order_fulfillment")
    assert_denied(decide(p, Facts(partner=None)), Reason.GRANT_MISSING)
    assert_denied(decide(p, Facts(partner=_partner(grant_found=False))), Reason.GRANT_MISSING)
    # The first failing check is the one reported.
    nothing = _partner(grant_found=False, grant_valid=False, assignment_valid=False)
    assert_denied(decide(p, Facts(partner=nothing)), Reason.GRANT_MISSING)
    assert_denied(decide(p, Facts(partner=_partner(grant_valid=False))), Reason.GRANT_EXPIRED)
    expired_unassigned = _partner(grant_valid=False, assignment_valid=False)
    assert_denied(decide(p, Facts(partner=expired_unassigned)), Reason.GRANT_EXPIRED)
    unassigned = _partner(assignment_valid=False)
    assert_denied(decide(p, Facts(partner=unassigned)), Reason.ASSIGNMENT_MISSING)


def test_order_fulfillment_default_request_returns_granted_fields_with_masks() -> None:
    decision = decide(permit("partner", "order_fulfillment"), Facts(partner=_partner()))
    assert_allowed(decision, ("full_name", "phone", "address"))
    assert decision.masked == frozenset({"phone", "address"})
    assert decision.basis == GRANT_BASIS
    plain = _partner(field_modes={"email": "plain"})
    decision = decide(permit("partner", "order_fulfillment"), Facts(partner=plain))
    assert_allowed(decision, ("email",))
    assert decision.masked == frozenset()


def test_order_fulfillment_explicit_fields_must_all_be_granted() -> None:
    facts = Facts(partner=_partner())
    decision = decide(permit("partner", "order_fulfillment", ["phone"]), facts)
    assert_allowed(decision, ("phone",))
    assert decision.masked == frozenset({"phone"})
    decision = decide(permit("partner", "order_fulfillment", ["address", "full_name"]), facts)
    assert_allowed(decision, ("full_name", "address"))
    assert decision.masked == frozenset({"address"})
    for asked in (["email"], ["full_name", "email"], list(ALL)):
        decision = decide(permit("partner", "order_fulfillment", asked), facts)
        assert_denied(decision, Reason.FIELD_NOT_PERMITTED)


def test_order_fulfillment_grant_without_fields_reveals_nothing() -> None:
    decision = decide(
        permit("partner", "order_fulfillment"), Facts(partner=_partner(field_modes={}))
    )
    assert_denied(decision, Reason.FIELD_NOT_PERMITTED)
    assert decision.masked == frozenset()


def _judicial(**overrides: object) -> JudicialFacts:
    values: dict[str, object] = {
        "approved": True,
        "expired": False,
        "customer_named": True,
        "fields": ("full_name", "address"),
        "basis": JUDICIAL_BASIS,
    }
    values.update(overrides)
    return JudicialFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("role", ["legal", "dpo"])
def test_judicial_disclosure_needs_an_approved_unexpired_request(role: str) -> None:
    p = permit(role, "judicial_disclosure")
    assert_denied(decide(p, Facts(judicial=None)), Reason.REQUEST_NOT_APPROVED)
    unapproved = _judicial(approved=False)
    assert_denied(decide(p, Facts(judicial=unapproved)), Reason.REQUEST_NOT_APPROVED)
    assert_denied(
        decide(p, Facts(judicial=_judicial(approved=False, expired=True))),
        Reason.REQUEST_NOT_APPROVED,
    )
    assert_denied(decide(p, Facts(judicial=_judicial(expired=True))), Reason.REQUEST_EXPIRED)
    assert_denied(
        decide(p, Facts(judicial=_judicial(expired=True, customer_named=False))),
        Reason.REQUEST_EXPIRED,
    )
    assert_denied(decide(p, Facts(judicial=_judicial(customer_named=False))), Reason.OUT_OF_SCOPE)


@pytest.mark.parametrize("role", ["legal", "dpo"])
def test_judicial_disclosure_is_limited_to_the_requested_fields(role: str) -> None:
    facts = Facts(judicial=_judicial())
    decision = decide(permit(role, "judicial_disclosure"), facts)
    assert_allowed(decision, ("full_name", "address"))
    assert decision.basis == JUDICIAL_BASIS
    decision = decide(permit(role, "judicial_disclosure", ["address"]), facts)
    assert_allowed(decision, ("address",))
    assert decision.basis == JUDICIAL_BASIS
    for asked in (["phone"], ["full_name", "email"], list(ALL)):
        decision = decide(permit(role, "judicial_disclosure", asked), facts)
        assert_denied(decision, Reason.OUT_OF_SCOPE)
    no_fields = Facts(judicial=_judicial(fields=()))
    assert_denied(decide(permit(role, "judicial_disclosure"), no_fields), Reason.OUT_OF_SCOPE)


# -- R7.1: withdrawing processing consent leaves only the legal purposes --------------------


def allowed_facts(purpose: str) -> Facts:
    """Facts under which the row's condition (docs/policy.md) holds."""
    return Facts(
        processing_consent=True,
        marketing_consent=purpose == "marketing",
        justification="Khách gọi tổng đài đề nghị kiểm tra đơn" if purpose else None,
        pending_notice=purpose == "legal_notice",
        open_complaint_basis=COMPLAINT_BASIS if purpose == "complaint_handling" else None,
        open_subject_request_basis=(
            SUBJECT_REQUEST_BASIS if purpose == "data_subject_request" else None
        ),
        partner=_partner() if purpose == "order_fulfillment" else None,
        judicial=_judicial() if purpose == "judicial_disclosure" else None,
    )


def _withdrawn(facts: Facts) -> Facts:
    values = {f: getattr(facts, f) for f in Facts.__dataclass_fields__}
    values["processing_consent"] = False
    return Facts(**values)


def _cases() -> list[tuple[str, str, Access]]:
    out = []
    for purpose, row in TABLE.items():
        for role in sorted(row.roles):
            for access in sorted(row.access):
                out.append((purpose, role, Access(access)))
    return out


@pytest.mark.parametrize(("purpose", "role", "access"), _cases())
def test_withdrawn_processing_consent(purpose: str, role: str, access: Access) -> None:
    p = permit(role, purpose, access=access)
    facts = allowed_facts(purpose)
    given_consent = decide(p, facts)
    assert given_consent.allowed, given_consent
    after = decide(p, _withdrawn(facts))
    if purpose in LEGAL_PURPOSES:
        assert after == given_consent
    elif purpose == "registration":
        assert_denied(after, Reason.CONSENT_REQUIRED)  # the row's own condition
    else:
        assert_denied(after, Reason.CONSENT_WITHDRAWN)


@pytest.mark.parametrize("purpose", sorted(LEGAL_PURPOSES - {"customer_self_service"}))
def test_withdrawn_consent_does_not_lift_legal_conditions(purpose: str) -> None:
    """A legal purpose stays open after withdrawal, but its own condition still applies."""
    role = sorted(TABLE[purpose].roles)[0]
    decision = decide(permit(role, purpose), Facts(processing_consent=False))
    assert decision.allowed is False
    assert decision.reason in {Reason.REQUEST_NOT_APPROVED, Reason.NO_OPEN_CASE}


# -- invariants over random requests and facts -------------------------------------------------

field_names = st.sampled_from((*ALL, "national_id"))
requests = st.none() | st.lists(field_names, max_size=5)
modes = st.dictionaries(st.sampled_from(ALL), st.sampled_from(["plain", "masked"]))
partner_facts = st.none() | st.builds(
    PartnerFacts,
    grant_found=st.booleans(),
    grant_valid=st.booleans(),
    assignment_valid=st.booleans(),
    field_modes=modes,
    basis=st.sampled_from([None, GRANT_BASIS]),
)
judicial_facts = st.none() | st.builds(
    JudicialFacts,
    approved=st.booleans(),
    expired=st.booleans(),
    customer_named=st.booleans(),
    fields=st.lists(st.sampled_from(ALL), unique=True).map(tuple),
    basis=st.just(JUDICIAL_BASIS),
)
facts_strategy = st.builds(
    Facts,
    processing_consent=st.booleans(),
    marketing_consent=st.booleans(),
    justification=st.none() | st.text(max_size=14),
    pending_notice=st.booleans(),
    open_complaint_basis=st.sampled_from([None, "", COMPLAINT_BASIS]),
    open_subject_request_basis=st.sampled_from([None, "", SUBJECT_REQUEST_BASIS]),
    partner=partner_facts,
    judicial=judicial_facts,
)


@settings(max_examples=200, deadline=None)
@given(
    role=st.sampled_from((*ROLES, "customer")),
    purpose=st.sampled_from(PURPOSES_TRIED),
    requested=requests,
    access=st.sampled_from(list(Access)),
    facts=facts_strategy,
)
def test_decisions_never_leave_the_row(
    role: str, purpose: str | None, requested: list[str] | None, access: Access, facts: Facts
) -> None:
    result = authorize(role, purpose, requested, access)
    if isinstance(result, Denial):
        assert result.reason in {
            Reason.PURPOSE_NOT_PERMITTED,
            Reason.ROLE_NOT_PERMITTED,
            Reason.FIELD_NOT_PERMITTED,
        }
        return
    assert purpose is not None
    row = TABLE[purpose]
    assert role in row.roles
    assert access.value in row.access
    decision = decide(result, facts)
    assert decision.allowed is (decision.reason is None)
    assert decision.purpose == purpose
    assert set(decision.fields) <= set(row.fields)
    if requested is not None and access is not Access.DOCUMENTS:
        assert set(decision.fields) <= set(requested)
    if not decision.allowed:
        return
    assert decision.masked <= set(decision.fields)
    assert decision.basis
    if requested is not None and access is not Access.DOCUMENTS:
        # Fields asked by name are given in full or not at all, never silently narrowed.
        assert set(decision.fields) == set(requested)
    if access is Access.DOCUMENTS:
        assert decision.fields == ()
    if not facts.processing_consent:
        assert purpose in LEGAL_PURPOSES
    if purpose == "marketing":
        assert facts.marketing_consent
    if purpose == "special_case_support":
        assert len((facts.justification or "").strip()) >= 10
    if purpose == "legal_notice":
        assert facts.pending_notice
    if purpose == "complaint_handling":
        assert decision.basis == facts.open_complaint_basis == COMPLAINT_BASIS
    if purpose == "data_subject_request":
        assert decision.basis == facts.open_subject_request_basis == SUBJECT_REQUEST_BASIS
    if purpose == "order_fulfillment":
        p = facts.partner
        assert p is not None
        assert p.grant_found
        assert p.grant_valid
        assert p.assignment_valid
        assert set(decision.fields) <= set(p.field_modes)
        assert decision.masked == {f for f in decision.fields if p.field_modes[f] == "masked"}
    else:
        assert decision.masked == frozenset()
    if purpose == "judicial_disclosure":
        j = facts.judicial
        assert j is not None
        assert j.approved
        assert not j.expired
        assert j.customer_named
        assert set(decision.fields) <= set(j.fields)
        assert decision.basis == JUDICIAL_BASIS
