"""OpenAPI helpers: the problem+json responses each operation documents."""

from __future__ import annotations

from typing import Any

from pydantic import WithJsonSchema

from pdvault.policy import ALLOWED_ROLES, Access, Operation, purposes_for

_DESCRIPTIONS = {
    400: "Malformed header: `detail` says how to write it",
    401: "Missing, unknown, expired or revoked token",
    403: "Known caller, not allowed: `reason` names the rule (docs/policy.md)",
    404: "No such resource",
    405: "Method not allowed",
    408: "The request body did not arrive within the body timeout; the connection is closed",
    409: "Conflict (`reason` says which)",
    410: "The customer was erased",
    412: "If-Match does not match the current ETag",
    413: "Request body over the configured limit",
    415: "The body is not JSON (`Content-Type: application/json`) or not in UTF-8",
    422: "Invalid input: `errors` lists each location and message",
    428: "If-Match is required",
    429: "Token not valid, and this address failed too often; wait `Retry-After` seconds",
    503: "Database or key provider unavailable; nothing changed, nothing disclosed",
}

PROBLEM = "Problem"
# The one problem-details schema (RFC 9457), shaped as errors.problem_body writes it: every
# error response of every operation refers to it, so a generated client has one error model.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": PROBLEM,
    "description": "An error, as RFC 9457 problem details (`application/problem+json`). "
    "Members beyond these may be added; they never hold a personal value.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {
            "type": "string",
            "description": "A URI naming the kind of problem (`urn:pdvault:problem:<code>`)",
        },
        "title": {"type": "string", "description": "Short summary of the status"},
        "status": {"type": "integer", "description": "The HTTP status code"},
        "detail": {"type": "string", "description": "What went wrong, for a person"},
        "instance": {
            "type": "string",
            "description": "A URI naming this occurrence (RFC 9457; pdvault sends none today: "
            "`X-Request-ID` names the request)",
        },
        "reason": {
            "type": "string",
            "description": "Why the policy or the workflow refused: a code of docs/policy.md",
        },
        "errors": {
            "type": "array",
            "description": "Validation errors: where each is and what is wrong (at most 20)",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                },
            },
        },
        "errors_omitted": {
            "type": "integer",
            "description": "How many validation errors were left out of `errors`",
        },
        "allowed_purposes": {
            "type": "array",
            "items": {"type": "string"},
            "description": "On `purpose_not_permitted`: the purposes the caller's role may use",
        },
        "existing_id": {
            "type": "string",
            "description": "On a conflict with a record that exists: that record's id",
        },
        "current_etag": {
            "type": "string",
            "description": "On 412: the resource's current ETag",
        },
    },
    "additionalProperties": True,
}
_PROBLEM_REF = {"$ref": f"#/components/schemas/{PROBLEM}"}
# A body member that holds a problem (a batch item's outcome) or null, as the same schema.
PROBLEM_OR_NULL = WithJsonSchema({"anyOf": [_PROBLEM_REF, {"type": "null"}]})


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error responses of an operation, each referring to the one ``Problem`` schema."""
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, "Problem"),
            "content": {"application/problem+json": {"schema": dict(_PROBLEM_REF)}},
        }
        for status in statuses
    }


def operation_id(route: Any) -> str:
    """An operation's id in the contract: its route function's name (``read_customer``), what
    a generated client calls it. ``tests/test_openapi.py`` checks they are unique."""
    name: str = route.name
    return name


def purpose_schema(operation: Operation, access: Access, description: str) -> WithJsonSchema:
    """The documented schema of a ``purpose`` parameter: a string enum of the purposes the
    operation's roles may use for ``access`` (issue 15.3). Only the document changes: the
    value is still parsed as a string, so an unknown purpose reaches the policy and answers
    the logged 403 ``purpose_not_permitted`` that names the allowed ones, never a 422."""
    purposes = list(purposes_for(ALLOWED_ROLES[operation], access))
    return WithJsonSchema({"type": "string", "enum": purposes, "description": description})


BEARER = "bearerAuth"
SECURITY_SCHEMES: dict[str, Any] = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "description": "A pdvault token (`pdv_...`): the first admin's from `pdvault init`, "
        "others from POST /v1/principals/{principal_id}/tokens. Each operation names the "
        "roles that may call it (`x-pdvault-roles`).",
    }
}


def declare_components(app: Any) -> None:
    """Add the shared components to the document the app builds: the bearer scheme (Swagger's
    Authorize button; each gated operation names it in ``security``, ``annotate_roles``) and
    the ``Problem`` schema every error response refers to (``problems``)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc: dict[str, Any] = build()
            components = doc.setdefault("components", {})
            components.setdefault("schemas", {})[PROBLEM] = PROBLEM_SCHEMA
            components["securitySchemes"] = SECURITY_SCHEMES
        schema: dict[str, Any] = app.openapi_schema
        return schema

    app.openapi = openapi


def annotate_roles(router: Any) -> None:
    """Name each operation's allowed roles in the served contract, from the same table the
    endpoint gate enforces (``x-pdvault-roles`` and a line of the description)."""
    from fastapi.routing import APIRoute

    def gated(dependant: Any) -> Any:
        for sub in dependant.dependencies:
            operation = getattr(sub.call, "operation", None)
            if operation is not None:
                return operation
            found = gated(sub)
            if found is not None:
                return found
        return None

    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        operation = gated(route.dependant)
        if operation is None or "x-pdvault-roles" in (route.openapi_extra or {}):
            continue  # not gated, or annotated by an earlier app (routers are module-level)
        # A token that does not authenticate may meet the guessing limit (auth/throttle.py).
        route.responses = {**route.responses, **problems(429)}
        roles = sorted(r.value for r in ALLOWED_ROLES[operation])
        route.openapi_extra = {
            **(route.openapi_extra or {}),
            "x-pdvault-roles": roles,
            "security": [{BEARER: []}],
        }
        line = f"Roles: {', '.join(roles)}."
        route.description = f"{route.description}\n\n{line}" if route.description else line


def annotate_bodies(router: Any) -> None:
    """Every operation that takes a body documents what the edge answers about bodies
    (middleware.py): 408 when it does not arrive in time, 415 when it is not UTF-8 JSON (the
    upload keeps its own 415, for anything but multipart/form-data)."""
    from fastapi.routing import APIRoute

    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        if route.body_field is None and "requestBody" not in (route.openapi_extra or {}):
            continue
        added = {k: v for k, v in problems(408, 415).items() if k not in route.responses}
        if added:
            route.responses = {**route.responses, **added}
