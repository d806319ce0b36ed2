"""The access rule table, transcribed by hand from docs/policy.md ("Access rule table (normative)").

Deliberately not derived from ``pdvault.policy.rules``: the tests compare the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

FULL_NAME, PHONE, EMAIL, ADDRESS = "full_name", "phone", "email", "address"
ALL = (FULL_NAME, PHONE, EMAIL, ADDRESS)
CONTACT = (FULL_NAME, PHONE, EMAIL)

ROLES = ("admin", "storefront", "employee", "partner", "legal", "dpo", "auditor")


@dataclass(frozen=True)
class Row:
    roles: frozenset[str]
    fields: tuple[str, ...]
    access: frozenset[str]  # "create" customers, "read" / "write" fields, "documents" only


def _row(roles: str, fields: tuple[str, ...], access: str) -> Row:
    return Row(frozenset(roles.split()), fields, frozenset(access.split()))


TABLE: dict[str, Row] = {
    # "write all"; processing consent given
    "registration": _row("storefront employee", ALL, "create"),
    "order_confirmation": _row("employee", ALL, "read"),
    "product_consultation": _row("employee", CONTACT, "read"),
    "product_information": _row("employee", CONTACT, "read"),
    "marketing": _row("employee", (FULL_NAME, EMAIL), "read"),
    "special_case_support": _row("employee", ALL, "read"),
    # R6.1: read, rectify, export; R7.3: documents through self-service too
    "customer_self_service": _row("storefront", ALL, "read write documents"),
    "legal_notice": _row("storefront employee", CONTACT, "read"),
    # "per grant": the grant narrows these further
    "order_fulfillment": _row("partner", ALL, "read"),
    # "per request": the request narrows these further
    "judicial_disclosure": _row("legal dpo", ALL, "read"),
    "complaint_handling": _row("dpo", ALL, "read"),
    # docs/api.md: PATCH by dpo under data_subject_request (correction requests)
    "data_subject_request": _row("dpo", ALL, "read write"),
    # "documents only"
    "accounting": _row("employee", (), "documents"),
}

# R7.1: still open after processing consent is withdrawn.
LEGAL_PURPOSES = frozenset(
    {"judicial_disclosure", "complaint_handling", "data_subject_request", "customer_self_service"}
)

UNKNOWN_PURPOSE = "debt_collection"
PURPOSES_TRIED: tuple[str | None, ...] = (*TABLE, UNKNOWN_PURPOSE, None)

# Every non-empty subset of the four fields, plus None (= the row's default fields).
FIELD_REQUESTS: tuple[tuple[str, ...] | None, ...] = (
    None,
    *(subset for n in range(1, len(ALL) + 1) for subset in combinations(ALL, n)),
)
