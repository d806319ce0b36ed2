"""One error model: RFC 9457 problem details, rendered by one set of handlers.

No handler ever echoes a submitted or stored value: details name fields, never their contents.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, cast

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

log = logging.getLogger("pdvault.errors")

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    408: "Request timeout",
    409: "Conflict",
    410: "Gone",
    412: "Precondition failed",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem_type(slug: str) -> str:
    return f"urn:pdvault:problem:{slug}"


def problem_body(
    status: int, detail: str, *, slug: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": problem_type(slug or _TITLES.get(status, "error").lower().replace(" ", "_")),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    content = orjson.dumps(problem_body(status, detail, slug=slug, **extra))
    return Response(content, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class Problem(Exception):
    """Raised anywhere; rendered as problem+json. ``reason``: a docs/policy.md deny code."""

    status = 500
    slug = "internal_error"

    def __init__(
        self,
        detail: str,
        *,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.reason = reason
        self.headers = headers
        self.extra = extra

    def to_body(self) -> dict[str, Any]:
        return problem_body(
            self.status,
            self.detail,
            slug=self.reason or self.slug,
            reason=self.reason,
            **self.extra,
        )

    def to_response(self) -> Response:
        return Response(
            orjson.dumps(self.to_body()),
            status_code=self.status,
            media_type=PROBLEM_JSON,
            headers=self.headers,
        )


class BadRequest(Problem):
    status, slug = 400, "bad_request"


class Unauthorized(Problem):
    status, slug = 401, "unauthorized"

    def __init__(self, detail: str = "A valid bearer token is required.") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="pdvault"'})


class Forbidden(Problem):
    status, slug = 403, "forbidden"


class NotFound(Problem):
    status, slug = 404, "not_found"


class Conflict(Problem):
    status, slug = 409, "conflict"


class Gone(Problem):
    status, slug = 410, "gone"


class PreconditionFailed(Problem):
    status, slug = 412, "precondition_failed"


class PayloadTooLarge(Problem):
    status, slug = 413, "content_too_large"


class Unprocessable(Problem):
    status, slug = 422, "validation_error"


class PreconditionRequired(Problem):
    status, slug = 428, "precondition_required"


class TooManyRequests(Problem):
    status, slug = 429, "too_many_requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        # Connection: close, so each refused guess costs its sender a new connection.
        super().__init__(detail, headers={"Retry-After": str(retry_after), "Connection": "close"})


class ServiceUnavailable(Problem):
    status, slug = 503, "service_unavailable"


# A body of 80 000 unknown keys would otherwise answer 5 MB of errors: an amplifier.
MAX_LISTED_ERRORS = 20
_SURROGATE = re.compile("[\ud800-\udfff]")


def printable(text: object) -> str:
    """``text`` as a string that can be encoded as UTF-8: a lone surrogate (JSON lets a client
    send ``"\\udbce"``, even as an object key a location names) becomes U+FFFD, so rendering
    the answer can never fail."""
    return _SURROGATE.sub("\ufffd", str(text))


def error_entries(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Location and message per validation error (the first ``MAX_LISTED_ERRORS``, locations
    bounded); never the offending input."""
    return [
        {
            "loc": [printable(str(part)[:100]) for part in err.get("loc", ())][:10],
            "msg": printable(err.get("msg", "invalid value")),
        }
        for err in list(errors)[:MAX_LISTED_ERRORS]
    ]


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Location and message per error; never the offending input."""
    return error_entries(exc.errors())


class StorageFault(Exception):
    """Storage or keys could not serve the request: the caller gets 503, never a stack trace.

    The layers above name their own faults by subclassing it (a key the provider does not
    hold, a log batch that could not be committed); this module imports none of them."""


def is_storage_fault(exc: BaseException) -> bool:
    """Database or key-provider trouble: the caller gets 503, never a stack trace."""
    from sqlalchemy.exc import SQLAlchemyError

    storage = (SQLAlchemyError, StorageFault, ConnectionError, TimeoutError)
    if isinstance(exc, storage):
        return True
    if isinstance(exc, OSError):
        return True
    module = type(exc).__module__
    return module.startswith(("asyncpg", "sqlite3", "aiosqlite"))


def storage_unavailable() -> Response:
    return problem_response(
        503,
        "Storage or keys are unavailable; nothing was changed or disclosed. Retry later.",
        slug="service_unavailable",
        headers={"Retry-After": "1"},
    )


def install_error_handlers(app: FastAPI) -> None:
    async def on_problem(_request: Request, exc: Exception) -> Response:
        return cast(Problem, exc).to_response()

    async def on_validation(_request: Request, exc: Exception) -> Response:
        error = cast(RequestValidationError, exc)
        total = len(error.errors())
        return problem_response(
            422,
            "The request is not valid.",
            slug="validation_error",
            errors=validation_errors(error),
            errors_omitted=(total - MAX_LISTED_ERRORS) if total > MAX_LISTED_ERRORS else None,
        )

    async def on_http(_request: Request, exc: Exception) -> Response:
        exc = cast(StarletteHTTPException, exc)
        status = exc.status_code
        if status == 400:
            # The framework's only 400: a body it could not parse (bytes that are not UTF-8
            # JSON, a broken multipart form). That is a validation error like malformed JSON.
            return problem_response(
                422,
                "The request is not valid.",
                slug="validation_error",
                errors=[{"loc": ["body"], "msg": "the body could not be parsed"}],
            )
        detail = {
            404: "No such resource.",
            405: "Method not allowed on this resource.",
        }.get(status) or (
            exc.detail if isinstance(exc.detail, str) else _TITLES.get(status, "Error")
        )
        return problem_response(status, detail, headers=dict(exc.headers or {}) or None)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
