"""OpenAPI helpers: the problem+json responses each operation documents."""

from __future__ import annotations

from typing import Any

from pydantic import WithJsonSchema

from pdvault.policy import ALLOWED_ROLES, Access, Operation
from pdvault.policy.explain import purposes_for

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

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "reason": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, "Problem"),
            "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


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


def declare_bearer_auth(app: Any) -> None:
    """Add the bearer scheme to the document the app builds (Swagger's Authorize button);
    each gated operation names it in ``security`` (``annotate_roles``)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc: dict[str, Any] = build()
            doc.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
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
