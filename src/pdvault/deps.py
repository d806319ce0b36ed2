"""Typed dependency aliases: routes read like sentences."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import unquote

import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.writer import DENIED, EventDraft
from pdvault.auth.principal import Actor, Resolution, resolve_token
from pdvault.auth.throttle import scope_client_address
from pdvault.auth.tokens import looks_like_token
from pdvault.errors import Forbidden, TooManyRequests, Unauthorized, Unprocessable
from pdvault.policy import Operation, Reason, may_call, rule_for
from pdvault.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, a thread handoff on
    # every request (8.7% of a PostgreSQL read's samples in docs/performance.md) for nothing.
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


# What a route is, marked on its endpoint (below its ``@router`` line) instead of listed by
# path elsewhere: one edit in its router adds or changes one.
READ_ROUTE = "pdvault_read_route"
TAKES_DOCUMENT = "pdvault_takes_document"
ITEMS_CHECKED_ALONE = "pdvault_items_checked_alone"

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def _mark(endpoint: Endpoint, name: str) -> Endpoint:
    setattr(endpoint, name, True)
    return endpoint


def read_route(endpoint: Endpoint) -> Endpoint:
    """A route that only reads: its session begins no transaction (SQLite: no write lock;
    ``db.make_sessionmaker(read_only=True)``), and its access event is group-committed by
    the log writers (``audit/batch.py``)."""
    return _mark(endpoint, READ_ROUTE)


def takes_document(endpoint: Endpoint) -> Endpoint:
    """A route whose body is a document upload: the edge allows it the documents size limit
    and leaves its multipart form to the route's own parser (``middleware.py``)."""
    return _mark(endpoint, TAKES_DOCUMENT)


def items_checked_alone(endpoint: Endpoint) -> Endpoint:
    """A route whose body holds items validated one by one, where one bad item fails only
    itself: the NUL guard (``middleware.NulGuard``) leaves its body to that validation."""
    return _mark(endpoint, ITEMS_CHECKED_ALONE)


def marked_paths(routers: Iterable[APIRouter], mark: str) -> list[tuple[str, re.Pattern[str]]]:
    """(method, path pattern) of each route marked ``mark`` in ``routers`` (as the app
    includes them: without a further prefix), for the edge, which decides before routing."""
    return [
        (method, route.path_regex)
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and getattr(route.endpoint, mark, False)
        for method in sorted(route.methods or ())
    ]


def _is_read_route(request: Request) -> bool:
    endpoint = getattr(request.scope.get("route"), "endpoint", None)
    return getattr(endpoint, READ_ROUTE, False) is True


async def get_session(request: Request, runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    # Opening the session takes no connection: its transaction begins (on SQLite, a write
    # route's BEGIN IMMEDIATE) at the handler's first statement, never at authentication.
    async with runtime.sessions_for(_is_read_route(request))() as session:
        yield session


# scope="function": the session closes (rolling back anything uncommitted) before the
# response is sent, never after; handlers commit explicitly before returning.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_actor(request: Request, runtime: RuntimeDep, session: SessionDep) -> Actor:
    return await authenticate(request, runtime, session)


async def authenticate(request: Request, runtime: Runtime, session: AsyncSession) -> Actor:
    """The caller behind the bearer token: 401 without a working one (a known holder's lapsed
    token logged), 429 once its address has failed too often (``count_auth_failure``)."""
    header = request.headers.get("authorization")
    if header is None:
        raise Unauthorized()  # no token, no guess: not counted
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        count_auth_failure(request, runtime, "malformed")
        raise Unauthorized()
    resolved = await _look_up(request, runtime, session, token.strip())
    if resolved is None:
        count_auth_failure(
            request, runtime, "unknown" if looks_like_token(token.strip()) else "malformed"
        )
        raise Unauthorized("The bearer token is unknown, expired or revoked.")
    if resolved.lapsed is not None:
        count_auth_failure(request, runtime, resolved.lapsed)
        # A known holder (disabled, or a revoked or expired token): the refusal is logged.
        raise await runtime.audit.denied(
            session,
            resolved.actor,
            EventDraft(
                action="auth.token",
                outcome=DENIED,
                customer_id=_as_uuid(request.path_params.get("customer_id")),
                purpose=known_purpose(request.query_params.get("purpose")),
                reason=resolved.lapsed,
            ),
            problem=Unauthorized("The bearer token is unknown, expired or revoked."),
        )
    return resolved.actor


CurrentActor = Annotated[Actor, Depends(get_actor)]


async def _look_up(
    request: Request, runtime: Runtime, session: AsyncSession, token: str
) -> Resolution | None:
    """The token's holder. On SQLite a write route's session begins with BEGIN IMMEDIATE and
    holds the write lock until the handler commits, so there the token is read in a read
    session of its own: authentication never takes SQLite's write lock. A read route's
    session takes none, and PostgreSQL has no database-wide write lock: the request's own
    session serves (no second connection per write request)."""
    if _is_read_route(request) or session.get_bind().dialect.name != "sqlite":
        return await resolve_token(session, runtime.principals, token)
    async with runtime.sessions_for(True)() as lookup:
        return await resolve_token(lookup, runtime.principals, token)


def count_auth_failure(request: Request, runtime: Runtime, kind: str) -> None:
    """One failed authentication, counted against the client's address (auth/throttle.py).

    Only failures are ever refused for the count: a token that resolves to a working holder
    never reaches here, so a guesser sharing an address (a NAT, a proxy) slows only itself.
    An address over the limit gets 429 instead of 401, and a lapsed token's refusal is then
    not logged, so a replayed token cannot fill the log faster than the limit allows.
    """
    address = scope_client_address(request.scope, runtime.settings.trusted_proxy_hops)
    wait = runtime.auth_failures.retry_after(address)
    runtime.auth_failures.failed(address)
    runtime.metrics.auth_failures.labels(kind).inc()
    if wait is not None:
        runtime.metrics.auth_throttled.inc()
        raise TooManyRequests(
            "The bearer token does not authenticate, and too many failed authentications "
            "came from this address; retry after Retry-After seconds.",
            wait,
        )


def require(operation: Operation) -> Callable[..., Awaitable[Actor]]:
    """The endpoint gate: the caller's role must be listed for the operation (docs/api.md).

    A refusal is logged like any access, naming the customer when the path has one.
    """

    async def gate(
        request: Request, actor: CurrentActor, runtime: RuntimeDep, session: SessionDep
    ) -> Actor:
        return await pass_gate(request, runtime, session, actor, operation)

    gate.operation = operation  # type: ignore[attr-defined]  # read by openapi_docs
    return gate


async def pass_gate(
    request: Request, runtime: Runtime, session: AsyncSession, actor: Actor, operation: Operation
) -> Actor:
    """``actor`` if its role is listed for ``operation``; else the logged 403."""
    if may_call(actor.role, operation):
        return actor
    raise await runtime.audit.denied(
        session,
        actor,
        EventDraft(
            action=operation.value,
            outcome=DENIED,
            customer_id=_as_uuid(request.path_params.get("customer_id")),
            purpose=known_purpose(request.query_params.get("purpose")),
            reason=Reason.ROLE_NOT_PERMITTED.value,
        ),
        problem=Forbidden(
            f"The {actor.role.value} role may not call this operation.",
            reason=Reason.ROLE_NOT_PERMITTED.value,
        ),
    )


def _as_uuid(raw: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw)) if raw is not None else None
    except ValueError:
        return None


def known_purpose(raw: str | None) -> str | None:
    """A purpose as logged: a name from the rule table, or nothing (free text never is)."""
    return raw if raw and rule_for(raw) is not None else None


JUSTIFICATION_MAX = 2000


def parse_justification(raw: str | None) -> str | None:
    """The ``X-Justification`` header's text (special_case_support), or 422 saying what is
    wrong with it; None when absent."""
    if raw is None:
        return None
    # Raw UTF-8 reaches us as Latin-1 text, each letter counting two or three times towards
    # the length rule: only the percent-encoded form (ASCII on the wire) is accepted.
    text: str | None = None
    if raw.isascii():
        try:
            text = unquote(raw, encoding="utf-8", errors="strict")
        except UnicodeDecodeError:
            text = None
    if text is None:
        raise _bad_justification(
            "X-Justification is not percent-encoded UTF-8.", "invalid encoding"
        )
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text):
        raise _bad_justification(
            "X-Justification may not contain control characters.", "control character"
        )
    if len(text) > JUSTIFICATION_MAX:
        raise _bad_justification("X-Justification is too long.", "too long")
    return text


def _bad_justification(detail: str, msg: str) -> Unprocessable:
    return Unprocessable(detail, errors=[{"loc": ["header", "X-Justification"], "msg": msg}])


@dataclass(frozen=True)
class HotCall:
    """What a hot route is handed: its runtime, its read session, the authenticated caller who
    passed the gate, and the justification header's text (None when absent)."""

    runtime: Runtime
    session: AsyncSession
    actor: Actor
    justification: str | None


def hot_call(
    operation: Operation, *, justified: bool = False
) -> Callable[..., AsyncIterator[HotCall]]:
    """The one dependency of a hot read route (issue 17): what ``get_runtime``,
    ``get_session``, ``get_actor``, ``require(operation)`` and the justification header do,
    in that order and with the same refusals and events, solved as one call instead of a tree
    FastAPI walks per request. The route's own parameters (path, query, the documented
    ``X-Justification`` header) stay in its signature, so the OpenAPI document is unchanged.
    ``justified``: the route reads ``X-Justification`` (others ignore the header, as before).
    Use with ``scope="function"``: the session closes before the response is sent."""

    async def call(request: Request) -> AsyncIterator[HotCall]:
        runtime: Runtime = request.app.state.runtime
        async with runtime.sessions_for(True)() as session:
            actor = await authenticate(request, runtime, session)
            await pass_gate(request, runtime, session, actor, operation)
            raw = request.headers.get("x-justification") if justified else None
            justification = parse_justification(raw)
            yield HotCall(runtime, session, actor, justification)

    call.operation = operation  # type: ignore[attr-defined]  # read by openapi_docs
    return call


def hot_response(content: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A hot route's body, serialised once by orjson: the bytes FastAPI would send for the
    route's ``response_model`` (compact, UTF-8, UUIDs as text, UTC times ending in ``Z``),
    without validating the model again. The declared ``response_model`` still documents it."""
    body = orjson.dumps(content, default=_uuid_text, option=orjson.OPT_UTC_Z)
    return Response(body, media_type="application/json", headers=headers)


def _uuid_text(value: object) -> str:
    # asyncpg hands back its own UUID subclass, which orjson does not take for uuid.UUID.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
