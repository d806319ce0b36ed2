"""Which roles may call which operation (API.md's role columns). Routers ask; never decide."""

from __future__ import annotations

from enum import StrEnum

from pdvault.policy.rules import Role


class Operation(StrEnum):
    CUSTOMER_CREATE = "customer.create"
    CUSTOMER_BATCH = "customer.batch"
    CUSTOMER_READ = "customer.read"
    CUSTOMER_SEARCH = "customer.search"
    CUSTOMER_UPDATE = "customer.update"
    PRINCIPAL_CREATE = "principal.create"
    PRINCIPAL_LIST = "principal.list"
    PRINCIPAL_DISABLE = "principal.disable"
    TOKEN_CREATE = "token.create"  # noqa: S105 - an operation name
    TOKEN_REVOKE = "token.revoke"  # noqa: S105 - an operation name
    KEYS_STATUS = "keys.status"


S, E, D, A = Role.STOREFRONT, Role.EMPLOYEE, Role.DPO, Role.ADMIN

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
    Operation.KEYS_STATUS: frozenset({A}),
}


def may_call(role: Role | str, operation: Operation) -> bool:
    return role in ALLOWED_ROLES[operation]
