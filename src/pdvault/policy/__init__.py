"""Who may read what: the rule table of docs/policy.md and pure functions over it."""

from pdvault.policy.endpoints import (
    ALLOWED_ROLES,
    Operation,
    access_request_needs_reference,
    default_purpose,
    may_call,
    may_read_free_text,
)
from pdvault.policy.engine import (
    AccessDecision,
    Denial,
    Facts,
    JudicialFacts,
    PartnerFacts,
    Permit,
    Reason,
    allowed_on_justification,
    authorize,
    conditions_needed,
    decide,
    rule_for,
)
from pdvault.policy.rules import ALL_FIELDS, RULES, Access, Condition, Purpose, Role, Rule

__all__ = [
    "ALLOWED_ROLES",
    "ALL_FIELDS",
    "RULES",
    "Access",
    "AccessDecision",
    "Condition",
    "Denial",
    "Facts",
    "JudicialFacts",
    "Operation",
    "PartnerFacts",
    "Permit",
    "Purpose",
    "Reason",
    "Role",
    "Rule",
    "access_request_needs_reference",
    "allowed_on_justification",
    "authorize",
    "conditions_needed",
    "decide",
    "default_purpose",
    "may_call",
    "may_read_free_text",
    "rule_for",
]
