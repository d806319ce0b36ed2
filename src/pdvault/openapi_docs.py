"""OpenAPI helpers: the problem+json responses each operation documents."""

from __future__ import annotations

from typing import Any

_DESCRIPTIONS = {
    401: "Missing, unknown, expired or revoked token",
    403: "Known caller, not allowed: `reason` names the rule (POLICY.md)",
    404: "No such resource",
    405: "Method not allowed",
    409: "Conflict (`reason` says which)",
    410: "The customer was erased",
    412: "If-Match does not match the current ETag",
    413: "Request body over the configured limit",
    422: "Invalid input: `errors` lists each location and message",
    428: "If-Match is required",
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
