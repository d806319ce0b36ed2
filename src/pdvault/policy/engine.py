"""The policy engine: pure functions over the rule table. No I/O, no clock reads.

Two steps, so a caller that may not touch a record learns nothing about whether it exists:
``authorize`` checks the purpose, role and fields against the table; the caller then loads the
facts the row's condition needs and ``decide`` returns the final ``AccessDecision``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from pdvault.policy.rules import (
    JUSTIFICATION_MIN_CHARS,
    RULES,
    Access,
    Condition,
    Purpose,
    Role,
    Rule,
)


class Reason(StrEnum):
    """Deny reasons named by docs/policy.md."""

    PURPOSE_NOT_PERMITTED = "purpose_not_permitted"
    ROLE_NOT_PERMITTED = "role_not_permitted"
    FIELD_NOT_PERMITTED = "field_not_permitted"
    CONSENT_REQUIRED = "consent_required"
    CONSENT_MISSING = "consent_missing"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    JUSTIFICATION_REQUIRED = "justification_required"
    NO_PENDING_NOTICE = "no_pending_notice"
    GRANT_MISSING = "grant_missing"
    GRANT_EXPIRED = "grant_expired"
    ASSIGNMENT_MISSING = "assignment_missing"
    REQUEST_NOT_APPROVED = "request_not_approved"
    REQUEST_EXPIRED = "request_expired"
    OUT_OF_SCOPE = "out_of_scope"
    NO_OPEN_CASE = "no_open_case"


@dataclass(frozen=True)
class Denial:
    reason: Reason
    purpose: str | None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Permit:
    rule: Rule
    role: Role
    fields: tuple[str, ...]
    access: Access
    explicit: bool = False  # the caller named the fields (even all of them), not the default


@dataclass(frozen=True)
class PartnerFacts:
    """What the partner's grant and assignment say (filled by the partners package)."""

    grant_found: bool
    grant_valid: bool
    assignment_valid: bool
    field_modes: Mapping[str, str] = field(default_factory=dict)
    basis: str | None = None


@dataclass(frozen=True)
class JudicialFacts:
    approved: bool
    expired: bool
    customer_named: bool
    fields: tuple[str, ...]
    basis: str


@dataclass(frozen=True)
class Facts:
    """What the decision may depend on beyond the table. Loaded by the caller, per condition."""

    processing_consent: bool = True
    marketing_consent: bool = False
    justification: str | None = None
    pending_notice: bool = False
    open_complaint_basis: str | None = None
    open_subject_request_basis: str | None = None  # a deletion request: opens reads and writes
    open_access_request_basis: str | None = None  # an access request: opens the export only
    export: bool = False  # the read produces the customer's export (R6.1)
    partner: PartnerFacts | None = None
    judicial: JudicialFacts | None = None


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    purpose: str | None
    fields: tuple[str, ...]
    masked: frozenset[str] = frozenset()
    basis: str | None = None
    reason: Reason | None = None


def visible_length(text: str | None) -> int:
    """Characters a reader sees, in NFC: control and format characters (NUL, zero-width
    spaces, direction marks) and the surrounding whitespace do not count towards a reason."""
    nfc = unicodedata.normalize("NFC", text or "")
    return len("".join(ch for ch in nfc if unicodedata.category(ch) not in ("Cc", "Cf")).strip())


def rule_for(purpose: str) -> Rule | None:
    try:
        return RULES[Purpose(purpose)]
    except ValueError:
        return None


def allowed_on_justification(decision: AccessDecision) -> bool:
    """The access was allowed on the reader's justification (``special_case_support``): the
    one kind whose justification text is kept (issue 14.8)."""
    rule = rule_for(decision.purpose or "")
    return decision.allowed and rule is not None and rule.condition is Condition.JUSTIFICATION


def authorize(
    role: Role | str, purpose: str | None, requested: Collection[str] | None, access: Access
) -> Permit | Denial:
    """The table-only checks: known purpose, role in the row, access kind, fields in the row."""
    rule = rule_for(purpose) if purpose else None
    if rule is None or access not in rule.access:
        return Denial(Reason.PURPOSE_NOT_PERMITTED, purpose, tuple(requested or ()))
    try:
        role = Role(role)
    except ValueError:
        return Denial(Reason.ROLE_NOT_PERMITTED, purpose, tuple(requested or ()))
    if role not in rule.roles:
        return Denial(Reason.ROLE_NOT_PERMITTED, purpose, tuple(requested or ()))
    if access is Access.DOCUMENTS:
        return Permit(rule, role, (), access)
    if requested is None:
        return Permit(rule, role, rule.fields, access)
    outside = [f for f in requested if f not in rule.fields]
    if outside or not requested:
        return Denial(Reason.FIELD_NOT_PERMITTED, purpose, tuple(requested))
    ordered = tuple(f for f in rule.fields if f in set(requested))
    return Permit(rule, role, ordered, access, explicit=True)


def conditions_needed(permit: Permit) -> frozenset[Condition]:
    """The facts a caller must load for ``decide``: processing consent always, plus the row's."""
    return frozenset({Condition.PROCESSING_CONSENT_GIVEN, permit.rule.condition})


def _deny(permit: Permit, reason: Reason) -> AccessDecision:
    return AccessDecision(False, permit.rule.purpose.value, permit.fields, reason=reason)


def _allow(
    permit: Permit,
    fields: tuple[str, ...] | None = None,
    masked: frozenset[str] = frozenset(),
    basis: str | None = None,
) -> AccessDecision:
    purpose = permit.rule.purpose.value
    chosen = permit.fields if fields is None else fields
    return AccessDecision(True, purpose, chosen, masked, basis or f"purpose:{purpose}")


def decide(permit: Permit, facts: Facts) -> AccessDecision:
    rule = permit.rule
    condition = rule.condition
    if condition is Condition.PROCESSING_CONSENT_GIVEN:
        if facts.processing_consent:
            return _allow(permit)
        return _deny(permit, Reason.CONSENT_REQUIRED)
    if not facts.processing_consent and not rule.legal:
        return _deny(permit, Reason.CONSENT_WITHDRAWN)
    match condition:
        case Condition.NONE:
            return _allow(permit)
        case Condition.MARKETING_CONSENT:
            if facts.marketing_consent:
                return _allow(permit)
            return _deny(permit, Reason.CONSENT_MISSING)
        case Condition.JUSTIFICATION:
            if visible_length(facts.justification) < JUSTIFICATION_MIN_CHARS:
                return _deny(permit, Reason.JUSTIFICATION_REQUIRED)
            return _allow(permit, basis="justification")
        case Condition.PENDING_NOTICE:
            if facts.pending_notice:
                return _allow(permit)
            return _deny(permit, Reason.NO_PENDING_NOTICE)
        case Condition.OPEN_COMPLAINT:
            if facts.open_complaint_basis:
                return _allow(permit, basis=facts.open_complaint_basis)
            return _deny(permit, Reason.NO_OPEN_CASE)
        case Condition.OPEN_SUBJECT_REQUEST:
            if facts.open_subject_request_basis:
                return _allow(permit, basis=facts.open_subject_request_basis)
            # Issue 14.6: an access request is served by the export and nothing else; it
            # opens no plain read, no search and no correction of the customer.
            if facts.open_access_request_basis and facts.export and permit.access is Access.READ:
                return _allow(permit, basis=facts.open_access_request_basis)
            return _deny(permit, Reason.NO_OPEN_CASE)
        case Condition.PARTNER_GRANT:
            return _decide_partner(permit, facts.partner)
        case Condition.JUDICIAL_REQUEST:
            return _decide_judicial(permit, facts.judicial)
    return _deny(permit, Reason.PURPOSE_NOT_PERMITTED)  # unreachable: every condition matched


def _asked_explicitly(permit: Permit) -> bool:
    return permit.explicit


def _decide_partner(permit: Permit, p: PartnerFacts | None) -> AccessDecision:
    if p is None or not p.grant_found:
        return _deny(permit, Reason.GRANT_MISSING)
    if not p.grant_valid:
        return _deny(permit, Reason.GRANT_EXPIRED)
    if not p.assignment_valid:
        return _deny(permit, Reason.ASSIGNMENT_MISSING)
    granted = tuple(f for f in permit.fields if f in p.field_modes)
    if not granted or (_asked_explicitly(permit) and len(granted) < len(permit.fields)):
        return _deny(permit, Reason.FIELD_NOT_PERMITTED)
    masked = frozenset(f for f in granted if p.field_modes[f] == "masked")
    return _allow(permit, granted, masked, p.basis)


def _decide_judicial(permit: Permit, j: JudicialFacts | None) -> AccessDecision:
    if j is None or not j.approved:
        return _deny(permit, Reason.REQUEST_NOT_APPROVED)
    if j.expired:
        return _deny(permit, Reason.REQUEST_EXPIRED)
    if not j.customer_named:
        return _deny(permit, Reason.OUT_OF_SCOPE)
    fields = tuple(f for f in permit.fields if f in j.fields)
    if not fields or (_asked_explicitly(permit) and len(fields) < len(permit.fields)):
        return _deny(permit, Reason.OUT_OF_SCOPE)
    return _allow(permit, fields, basis=j.basis)
