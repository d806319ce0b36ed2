"""docs/policy.md's access rule table, as data. The one place that says who may read what.

Each row: a purpose, the roles it admits, the fields it reaches, whether it reads or writes
customer fields or only transaction documents, the condition it needs, and whether it is a
legal purpose (still open after the customer withdraws processing consent, R7.1).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    STOREFRONT = "storefront"
    EMPLOYEE = "employee"
    PARTNER = "partner"
    LEGAL = "legal"
    DPO = "dpo"
    AUDITOR = "auditor"


class Purpose(StrEnum):
    REGISTRATION = "registration"
    ORDER_CONFIRMATION = "order_confirmation"
    PRODUCT_CONSULTATION = "product_consultation"
    PRODUCT_INFORMATION = "product_information"
    MARKETING = "marketing"
    SPECIAL_CASE_SUPPORT = "special_case_support"
    CUSTOMER_SELF_SERVICE = "customer_self_service"
    LEGAL_NOTICE = "legal_notice"
    ORDER_FULFILLMENT = "order_fulfillment"
    JUDICIAL_DISCLOSURE = "judicial_disclosure"
    COMPLAINT_HANDLING = "complaint_handling"
    DATA_SUBJECT_REQUEST = "data_subject_request"
    ACCOUNTING = "accounting"


class Condition(StrEnum):
    """What must hold, beyond role and fields, for the row to allow access."""

    NONE = "none"
    PROCESSING_CONSENT_GIVEN = "processing_consent_given"
    MARKETING_CONSENT = "marketing_consent"
    JUSTIFICATION = "justification"
    PENDING_NOTICE = "pending_notice"
    PARTNER_GRANT = "partner_grant"
    JUDICIAL_REQUEST = "judicial_request"
    OPEN_COMPLAINT = "open_complaint"
    OPEN_SUBJECT_REQUEST = "open_subject_request"


class Access(StrEnum):
    """What a row admits: creating customers, reading or correcting their fields, documents."""

    READ = "read"
    CREATE = "create"
    WRITE = "write"
    DOCUMENTS = "documents"


FULL_NAME, PHONE, EMAIL, ADDRESS = "full_name", "phone", "email", "address"
ALL_FIELDS: tuple[str, ...] = (FULL_NAME, PHONE, EMAIL, ADDRESS)
CONTACT_FIELDS: tuple[str, ...] = (FULL_NAME, PHONE, EMAIL)

JUSTIFICATION_MIN_CHARS = 10


@dataclass(frozen=True)
class Rule:
    purpose: Purpose
    roles: frozenset[Role]
    fields: tuple[str, ...]
    access: frozenset[Access]
    condition: Condition
    legal: bool = False
    description: str = ""


def _rule(
    purpose: Purpose,
    roles: set[Role],
    fields: tuple[str, ...],
    access: set[Access],
    condition: Condition = Condition.NONE,
    *,
    legal: bool = False,
    description: str,
) -> Rule:
    return Rule(purpose, frozenset(roles), fields, frozenset(access), condition, legal, description)


C, R, W, D = Access.CREATE, Access.READ, Access.WRITE, Access.DOCUMENTS

RULES: dict[Purpose, Rule] = {
    r.purpose: r
    for r in (
        _rule(
            Purpose.REGISTRATION,
            {Role.STOREFRONT, Role.EMPLOYEE},
            ALL_FIELDS,
            {C},
            Condition.PROCESSING_CONSENT_GIVEN,
            description="Register a customer (write all); processing consent must be given.",
        ),
        _rule(
            Purpose.ORDER_CONFIRMATION,
            {Role.EMPLOYEE},
            ALL_FIELDS,
            {R},
            description="Contact the customer to confirm an order.",
        ),
        _rule(
            Purpose.PRODUCT_CONSULTATION,
            {Role.EMPLOYEE},
            CONTACT_FIELDS,
            {R},
            description="Consult on products at the customer's request.",
        ),
        _rule(
            Purpose.PRODUCT_INFORMATION,
            {Role.EMPLOYEE},
            CONTACT_FIELDS,
            {R},
            description="Send product information the customer asked for.",
        ),
        _rule(
            Purpose.MARKETING,
            {Role.EMPLOYEE},
            (FULL_NAME, EMAIL),
            {R},
            Condition.MARKETING_CONSENT,
            description="Marketing email; needs active marketing consent.",
        ),
        _rule(
            Purpose.SPECIAL_CASE_SUPPORT,
            {Role.EMPLOYEE},
            ALL_FIELDS,
            {R},
            Condition.JUSTIFICATION,
            description="Resolve a special case; a justification of 10+ characters is required.",
        ),
        _rule(
            Purpose.CUSTOMER_SELF_SERVICE,
            {Role.STOREFRONT},
            ALL_FIELDS,
            {R, W, D},
            legal=True,
            description="The signed-in customer reads, corrects and exports their own data.",
        ),
        _rule(
            Purpose.LEGAL_NOTICE,
            {Role.STOREFRONT, Role.EMPLOYEE},
            CONTACT_FIELDS,
            {R},
            Condition.PENDING_NOTICE,
            description="Deliver a legal notice; only while one is undelivered.",
        ),
        _rule(
            Purpose.ORDER_FULFILLMENT,
            {Role.PARTNER},
            ALL_FIELDS,
            {R},
            Condition.PARTNER_GRANT,
            description="A contracted partner performs a job: granted fields, plain or masked.",
        ),
        _rule(
            Purpose.JUDICIAL_DISCLOSURE,
            {Role.LEGAL, Role.DPO},
            ALL_FIELDS,
            {R},
            Condition.JUDICIAL_REQUEST,
            legal=True,
            description="Disclosure to a judicial body under an approved, unexpired request.",
        ),
        _rule(
            Purpose.COMPLAINT_HANDLING,
            {Role.DPO},
            ALL_FIELDS,
            {R},
            Condition.OPEN_COMPLAINT,
            legal=True,
            description="Handle a complaint; only while one on this customer is open.",
        ),
        _rule(
            Purpose.DATA_SUBJECT_REQUEST,
            {Role.DPO},
            ALL_FIELDS,
            {R, W},
            Condition.OPEN_SUBJECT_REQUEST,
            legal=True,
            description="Serve an access, correction or deletion request that is open.",
        ),
        _rule(
            Purpose.ACCOUNTING,
            {Role.EMPLOYEE},
            (),
            {D},
            description="Transaction documents only (invoices, receipts, contracts).",
        ),
    )
}


def purposes_for(
    roles: Role | str | Iterable[Role | str], access: Access, *, with_fields: bool = False
) -> tuple[str, ...]:
    """The purposes any of ``roles`` may state for ``access``, in the table's order; with
    ``with_fields``, only those that reach some customer field (what the console offers for a
    read). The decision on a request is still ``decide``'s."""
    wanted = {str(roles)} if isinstance(roles, str) else {str(r) for r in roles}
    return tuple(
        rule.purpose.value
        for rule in RULES.values()
        if access in rule.access
        and wanted & {r.value for r in rule.roles}
        and (rule.fields or not with_fields)
    )
