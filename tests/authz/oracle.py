"""What docs/policy.md and docs/api.md say a customer-endpoint call must produce, computed from
``tests.policy.expected`` (a hand transcription of the rule table), never from ``pdvault.policy``.

The conditions are evaluated against the matrix's situations: no pending notice, no open
complaint and no open data-subject request exist there (so those rows deny here; tests in
``tests/notifications`` and ``tests/subjects`` open them), and judicial disclosure is served only
by ``/v1/judicial-requests/{id}/disclosure`` (so the generic read never has an approved request).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tests.policy.expected import TABLE

Operation = Literal["read", "search", "update"]

# docs/api.md's role column for each customer endpoint: the gate, checked before anything else.
GATE: dict[Operation, frozenset[str]] = {
    "read": frozenset({"employee", "storefront", "dpo"}),
    "search": frozenset({"employee", "storefront", "dpo"}),
    "update": frozenset({"storefront", "dpo"}),
}
ACCESS: dict[Operation, str] = {"read": "read", "search": "read", "update": "write"}

# Registration is written by POST /v1/customers only; docs/api.md's PATCH row names just
# customer_self_service (storefront) and data_subject_request (dpo).
NOT_FOR_PATCH = frozenset({"registration"})

JUSTIFICATION_MIN_CHARS = 10


@dataclass(frozen=True)
class Situation:
    """The facts of one call beyond role, purpose and fields."""

    marketing_consent: bool
    justification: str | None


@dataclass(frozen=True)
class Expected:
    status: int
    reason: str | None
    fields: frozenset[str]  # the fields returned (allowed) or named by the decision
    stage: Literal["gate", "table", "condition", "allowed"]

    @property
    def outcome(self) -> str:
        return "allowed" if self.status == 200 else "denied"


def logged_purpose(purpose: str | None) -> str | None:
    """A purpose is logged only when it is one of the table's; free text never is."""
    return purpose if purpose in TABLE else None


def condition_reason(purpose: str, situation: Situation) -> str | None:
    """The deny reason of the row's condition, or None when it holds."""
    match purpose:
        case "marketing":
            return None if situation.marketing_consent else "consent_missing"
        case "special_case_support":
            text = (situation.justification or "").strip()
            return None if len(text) >= JUSTIFICATION_MIN_CHARS else "justification_required"
        case "legal_notice":
            return "no_pending_notice"
        case "complaint_handling" | "data_subject_request":
            return "no_open_case"
        case "judicial_disclosure":
            return "request_not_approved"
        case "order_fulfillment":
            return "grant_missing"  # unreachable: only partners pass the row, and not here
    return None


def expect(
    operation: Operation,
    role: str,
    purpose: str | None,
    fields: tuple[str, ...] | None,
    situation: Situation,
) -> Expected:
    asked = frozenset(fields or ())
    if role not in GATE[operation]:
        return Expected(403, "role_not_permitted", frozenset(), "gate")
    row = TABLE.get(purpose) if purpose is not None else None
    if (
        row is None
        or ACCESS[operation] not in row.access
        or (operation == "update" and purpose in NOT_FOR_PATCH)
    ):
        return Expected(403, "purpose_not_permitted", asked, "table")
    assert purpose is not None
    if role not in row.roles:
        return Expected(403, "role_not_permitted", asked, "table")
    if fields is not None and not asked <= set(row.fields):
        return Expected(403, "field_not_permitted", asked, "table")
    chosen = asked if fields is not None else frozenset(row.fields)
    reason = condition_reason(purpose, situation)
    if reason is not None:
        return Expected(403, reason, chosen, "condition")
    if operation == "update":
        # After a write the response shows every field the purpose may read.
        return Expected(200, None, frozenset(row.fields), "allowed")
    return Expected(200, None, chosen, "allowed")
