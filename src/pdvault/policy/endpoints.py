"""Which roles may call which operation (docs/api.md's role columns). Routers ask; never decide."""

from __future__ import annotations

from enum import StrEnum

from pdvault.policy.rules import Purpose, Role


class Operation(StrEnum):
    CUSTOMER_CREATE = "customer.create"
    CUSTOMER_BATCH = "customer.batch"
    CUSTOMER_READ = "customer.read"
    CUSTOMER_SEARCH = "customer.search"
    CUSTOMER_UPDATE = "customer.update"
    PRINCIPAL_CREATE = "principal.create"
    PRINCIPAL_LIST = "principal.list"
    PRINCIPAL_DISABLE = "principal.disable"
    TOKEN_CREATE = "token.create"  # noqa: S105 - an operation name  # nosec B105
    TOKEN_REVOKE = "token.revoke"  # noqa: S105 - an operation name  # nosec B105
    TOKEN_LIST = "token.list"  # noqa: S105 - an operation name  # nosec B105
    KEYS_STATUS = "keys.status"
    PARTNER_CREATE = "partner.create"
    PARTNER_LIST = "partner.list"
    GRANT_CREATE = "grant.create"
    GRANT_LIST = "grant.list"
    GRANT_REVOKE = "grant.revoke"
    ASSIGNMENT_CREATE = "assignment.create"
    ASSIGNMENT_REVOKE = "assignment.revoke"
    PARTNER_ASSIGNMENTS = "partner.assignments"
    PARTNER_CUSTOMER_READ = "partner.customer.read"
    JUDICIAL_FILE = "judicial.file"
    JUDICIAL_LIST = "judicial.list"
    JUDICIAL_READ = "judicial.read"
    JUDICIAL_DECIDE = "judicial.decide"
    JUDICIAL_DISCLOSE = "judicial.disclose"
    AUDIT_EVENTS = "audit.events"
    AUDIT_JUSTIFICATIONS = "audit.justifications"
    AUDIT_EXPORT = "audit.export"
    AUDIT_VERIFY = "audit.verify"
    AUDIT_CHECKPOINTS = "audit.checkpoints"
    AUDIT_PUBLIC_KEY = "audit.public_key"
    CUSTOMER_ACCESS_REPORT = "customer.access_report"
    CUSTOMER_EXPORT = "customer.export"
    CONSENT_READ = "consent.read"
    CONSENT_RECORD = "consent.record"
    DELETION_FILE = "deletion.file"
    DELETION_LIST = "deletion.list"
    DELETION_READ = "deletion.read"
    DELETION_DECIDE = "deletion.decide"
    ACCESS_REQUEST_FILE = "access_request.file"
    ACCESS_REQUEST_LIST = "access_request.list"
    ACCESS_REQUEST_READ = "access_request.read"
    ACCESS_REQUEST_DECIDE = "access_request.decide"
    NOTIFICATION_LIST = "notification.list"
    NOTIFICATION_ACK = "notification.ack"
    DOCUMENT_UPLOAD = "document.upload"
    DOCUMENT_LIST = "document.list"
    DOCUMENT_READ = "document.read"
    COMPLAINT_FILE = "complaint.file"
    COMPLAINT_LIST = "complaint.list"
    COMPLAINT_READ = "complaint.read"
    COMPLAINT_TRANSITION = "complaint.transition"
    BREACH_RECORD = "breach.record"
    BREACH_LIST = "breach.list"
    BREACH_READ = "breach.read"
    BREACH_NOTIFY_AUTHORITY = "breach.notify_authority"
    BREACH_NOTIFY_SUBJECTS = "breach.notify_subjects"
    REPORT_COMPLIANCE = "report.compliance"
    # Issue 21: the regulator's paperwork (the dpo drafts and signs it).
    BREACH_AUTHORITY_NOTICE = "breach.authority_notice"
    REPORT_IMPACT_ASSESSMENT = "report.impact_assessment"


S, E, D, A = Role.STOREFRONT, Role.EMPLOYEE, Role.DPO, Role.ADMIN
P, L, U = Role.PARTNER, Role.LEGAL, Role.AUDITOR

ALLOWED_ROLES: dict[Operation, frozenset[Role]] = {
    Operation.CUSTOMER_CREATE: frozenset({S, E}),
    Operation.CUSTOMER_BATCH: frozenset({S, E}),
    Operation.CUSTOMER_READ: frozenset({E, S, D}),
    Operation.CUSTOMER_SEARCH: frozenset({E, S, D}),
    Operation.CUSTOMER_UPDATE: frozenset({S, D}),
    Operation.PRINCIPAL_CREATE: frozenset({A}),
    Operation.PRINCIPAL_LIST: frozenset({A}),
    Operation.PRINCIPAL_DISABLE: frozenset({A}),
    Operation.TOKEN_CREATE: frozenset({A}),
    Operation.TOKEN_REVOKE: frozenset({A}),
    Operation.TOKEN_LIST: frozenset({A}),
    Operation.KEYS_STATUS: frozenset({A}),
    Operation.PARTNER_CREATE: frozenset({A}),
    Operation.PARTNER_LIST: frozenset({A}),
    Operation.GRANT_CREATE: frozenset({A}),
    Operation.GRANT_LIST: frozenset({A}),
    Operation.GRANT_REVOKE: frozenset({A}),
    Operation.ASSIGNMENT_CREATE: frozenset({E, S}),
    Operation.ASSIGNMENT_REVOKE: frozenset({E, S, A}),
    Operation.PARTNER_ASSIGNMENTS: frozenset({P}),
    Operation.PARTNER_CUSTOMER_READ: frozenset({P}),
    Operation.JUDICIAL_FILE: frozenset({L, D}),
    Operation.JUDICIAL_LIST: frozenset({L, D, U}),
    Operation.JUDICIAL_READ: frozenset({L, D, U}),
    Operation.JUDICIAL_DECIDE: frozenset({D}),
    Operation.JUDICIAL_DISCLOSE: frozenset({L, D}),
    Operation.AUDIT_EVENTS: frozenset({U, D}),
    # Issue 14.8: why special_case_support reads happened (each showing logged).
    Operation.AUDIT_JUSTIFICATIONS: frozenset({U, D}),
    Operation.AUDIT_EXPORT: frozenset({U}),
    Operation.AUDIT_VERIFY: frozenset({U}),
    Operation.AUDIT_CHECKPOINTS: frozenset({U}),
    Operation.AUDIT_PUBLIC_KEY: frozenset({U}),
    Operation.CUSTOMER_ACCESS_REPORT: frozenset({S, D}),
    Operation.CUSTOMER_EXPORT: frozenset({S, D}),
    Operation.CONSENT_READ: frozenset({S, D, E}),
    Operation.CONSENT_RECORD: frozenset({S, D}),
    Operation.DELETION_FILE: frozenset({S, D}),
    Operation.DELETION_LIST: frozenset({D, U}),
    Operation.DELETION_READ: frozenset({D, U}),
    Operation.DELETION_DECIDE: frozenset({D}),
    Operation.ACCESS_REQUEST_FILE: frozenset({S, D}),
    Operation.ACCESS_REQUEST_LIST: frozenset({D, U}),
    Operation.ACCESS_REQUEST_READ: frozenset({D, U}),
    Operation.ACCESS_REQUEST_DECIDE: frozenset({D}),
    Operation.NOTIFICATION_LIST: frozenset({S}),
    Operation.NOTIFICATION_ACK: frozenset({S}),
    Operation.DOCUMENT_UPLOAD: frozenset({S, E}),
    Operation.DOCUMENT_LIST: frozenset({S, E, D}),
    Operation.DOCUMENT_READ: frozenset({E, S}),
    Operation.COMPLAINT_FILE: frozenset({S, E, D}),
    Operation.COMPLAINT_LIST: frozenset({D, U}),
    Operation.COMPLAINT_READ: frozenset({D, U}),
    Operation.COMPLAINT_TRANSITION: frozenset({D}),
    Operation.BREACH_RECORD: frozenset({D}),
    Operation.BREACH_LIST: frozenset({D, U}),
    Operation.BREACH_READ: frozenset({D, U}),
    Operation.BREACH_NOTIFY_AUTHORITY: frozenset({D}),
    Operation.BREACH_NOTIFY_SUBJECTS: frozenset({D}),
    Operation.REPORT_COMPLIANCE: frozenset({D, U}),
    Operation.BREACH_AUTHORITY_NOTICE: frozenset({D}),
    Operation.REPORT_IMPACT_ASSESSMENT: frozenset({D}),
}


def may_call(role: Role | str, operation: Operation) -> bool:
    return role in ALLOWED_ROLES[operation]


# The web console (issue 18) is for the people of the policy: the systems (the storefront's
# backend, a partner's system) keep to the API and may not sign in.
CONSOLE_ROLES: frozenset[Role] = frozenset({D, Role.LEGAL, U, A, E})


def may_use_console(role: Role | str) -> bool:
    return role in CONSOLE_ROLES


# Free text a person wrote (a deletion request's note, a complaint's description, contact,
# notes and measures) is personal data beyond the four fields: only the dpo, who handles the
# case, reads it. docs/api.md: the auditor never sees description or contact; docs/policy.md: the
# employee never reads complaint material. Everyone allowed to read a record sees its metadata.
FREE_TEXT_READERS: frozenset[Role] = frozenset({D})


def may_read_free_text(role: Role | str) -> bool:
    return role in FREE_TEXT_READERS


# Issue 14.6: an access request opens a read of the customer, so staff who file one for a
# person (the dpo, from a letter or a call) must cite that person's own request: the channel
# and its reference. The storefront files for the signed-in customer, who is the asker.
REFERENCE_REQUIRED: frozenset[Role] = frozenset({D})


def access_request_needs_reference(role: Role | str) -> bool:
    return role in REFERENCE_REQUIRED


# Operations that read the whole record without a ``purpose`` parameter in docs/api.md: the
# purpose each role acts under (R6.1 self-service for the storefront; the dpo serves a request).
DEFAULT_PURPOSE: dict[Operation, dict[Role, Purpose]] = {
    Operation.CUSTOMER_EXPORT: {
        S: Purpose.CUSTOMER_SELF_SERVICE,
        D: Purpose.DATA_SUBJECT_REQUEST,
    },
}


def default_purpose(operation: Operation, role: Role | str) -> str | None:
    try:
        chosen = DEFAULT_PURPOSE.get(operation, {}).get(Role(role))
    except ValueError:
        return None
    return chosen.value if chosen is not None else None
