"""What a purpose refusal tells the caller (issue 15.3): which fault it is (missing, unknown,
or a purpose for another kind of access), the purposes the caller's role may use here, and
where the whole table is (``GET /v1/policy``). Pure functions over the rule table.

The reason code stays ``purpose_not_permitted``; only the words around it teach. The submitted
value is never repeated: a close match from the table is named instead.
"""

from __future__ import annotations

import difflib
from typing import Literal

from pdvault.errors import Forbidden
from pdvault.policy.engine import Reason, rule_for
from pdvault.policy.rules import RULES, Access, Role, purposes_for

POLICY_URL = "/v1/policy"

_VERB = {
    Access.READ: "reading",
    Access.CREATE: "registering",
    Access.WRITE: "correcting",
    Access.DOCUMENTS: "reading documents",
}


def purpose_detail(
    role: Role | str,
    purpose: str | None,
    access: Access,
    where: Literal["query", "body"] = "query",
) -> tuple[str, tuple[str, ...]]:
    """The ``detail`` of a ``purpose_not_permitted`` refusal, and the purposes it lists."""
    allowed = purposes_for([role], access)
    if not purpose:
        how = "?purpose=" if where == "query" else 'the body\'s "purpose"'
        fault = f"missing purpose: state why you need the data with {how}"
    elif rule_for(purpose) is None:
        close = difflib.get_close_matches(purpose, [p.value for p in RULES], n=1, cutoff=0.8)
        hint = f" (did you mean {close[0]}?)" if close else ""
        fault = f"unknown purpose{hint}"
    else:
        fault = f"purpose {purpose} does not allow {_VERB[access]}"
    listed = ", ".join(allowed) if allowed else "no purpose"
    detail = (
        f"Access denied: purpose_not_permitted: {fault}. "
        f"The {role} role may use {listed} here; "
        f"every purpose and who may use it: GET {POLICY_URL}."
    )
    return detail, allowed


def purpose_refusal(
    role: Role | str,
    purpose: str | None,
    access: Access,
    where: Literal["query", "body"] = "query",
) -> Forbidden:
    """The 403 for ``purpose_not_permitted``: the teaching detail, and the same list and the
    policy's address as members a client can read (``allowed_purposes``, ``policy``)."""
    detail, allowed = purpose_detail(role, purpose, access, where)
    return Forbidden(
        detail,
        reason=Reason.PURPOSE_NOT_PERMITTED.value,
        allowed_purposes=list(allowed),
        policy=POLICY_URL,
    )
