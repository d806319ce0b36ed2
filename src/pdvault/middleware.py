"""The edge, the app's one ASGI layer: request id, security headers, request bodies (read
whole before the app runs: size limit, time limit, JSON media type and encoding, no U+0000 in
JSON text), metrics, the optional access-log line, the app's exception handlers and the last
resort for errors. (The token-guessing counter answers in ``deps.get_actor``: only a token
that does not resolve can be refused for it.)

Pure ASGI (no BaseHTTPMiddleware) and alone in front of the router (main.py), so streaming
stays streaming and a request pays for one wrapper.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from typing import Any, cast

from python_multipart.multipart import parse_options_header
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, ExceptionHandler, Message, Receive, Scope, Send

from pdvault.errors import is_storage_fault, problem_response, storage_unavailable
from pdvault.observability import Metrics, new_request_id, request_id_var, sane_request_id

log = logging.getLogger("pdvault.http")


class RouteSet:
    """Routes the edge treats apart, known before routing runs: (method, path pattern) pairs
    read from the app's own routes when it is built (``deps.marked_paths``), so no path is
    written twice. A pattern must match the whole path, as routing does."""

    def __init__(self, entries: Iterable[tuple[str, re.Pattern[str]]] = ()) -> None:
        self._entries = tuple(entries)

    def __contains__(self, request: tuple[str, str]) -> bool:
        method, path = request
        return any(m == method and p.fullmatch(path) for m, p in self._entries)

    def holds_path(self, path: str) -> bool:
        """Whether a route of the set has this path, by any method."""
        return any(p.fullmatch(path) for _, p in self._entries)


# Every response: no MIME sniffing, no referrer, never framed, never cached (API responses
# carry personal data; the rest is cheap to fetch again).
_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
# JSON needs no script, style or frame: nothing may load.
_API_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The Swagger UI and ReDoc pages load their bundles from this app (docs_pages.py: no CDN, no
# inline script; Swagger's bootstrap is a served file) and fetch /openapi.json from here.
# Inline styles stay: both UIs set style attributes and ReDoc injects its stylesheet; a style
# runs no code. Swagger's icons are data: images; ReDoc runs a blob: worker.
_DOCS_CSP = (
    b"default-src 'none'; "
    b"script-src 'self'; "
    b"style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; "
    b"connect-src 'self'; worker-src blob:; "
    b"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


# The web console (console/): its own script and stylesheet and nothing else; no inline
# script or style, no other host; forms post only to itself. Its form posts are checked
# against their Origin, which a browser sends as "null" under no-referrer: same-origin keeps
# it (and the Referer) for the console's own pages and sends nothing to any other site.
_CONSOLE_CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    b"object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
CONSOLE_REQUEST_ID_PREFIX = "console:"


def security_headers(
    docs_page: bool, hsts_max_age: int, *, console: bool = False
) -> list[tuple[bytes, bytes]]:
    csp = _CONSOLE_CSP if console else _DOCS_CSP if docs_page else _API_CSP
    common = _COMMON
    if console:
        common = [
            (name, b"same-origin" if name == b"referrer-policy" else value)
            for name, value in _COMMON
        ]
    headers = [*common, (b"content-security-policy", csp)]
    if hsts_max_age > 0:
        headers.append((b"strict-transport-security", f"max-age={hsts_max_age}".encode()))
    return headers


class _BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive``; an HTTPException so FastAPI's body parsing re-raises it as is."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body over {limit} bytes.")


class _BodyTimedOut(Exception):
    """The request body did not arrive in full within the body timeout."""


class _ClientGone(Exception):
    """The client disconnected before its body was complete."""


def _has_body(headers: dict[bytes, bytes]) -> bool:
    """HTTP/1.1 (RFC 9112 §6.3): a request has a body only when it says how it is framed."""
    declared = headers.get(b"content-length")
    return b"transfer-encoding" in headers or (declared is not None and declared.strip() != b"0")


def is_json_media(media: bytes) -> bool:
    """``application/json`` or any ``application/*+json`` (already lower-cased)."""
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


_NOT_JSON = "The body must be JSON, sent with Content-Type: application/json."
_NOT_UTF8 = "A JSON body must be encoded in UTF-8 (RFC 8259), and say no other charset."


def body_refusal(method: str, content_type: bytes | None, body: bytes) -> str | None:
    """Why a request body is refused as 415, or None. Every body a route reads is JSON in
    UTF-8 (RFC 8259 §8.1), except a document upload's multipart form, which its own parser
    checks (documents/form.py) and which is never passed here. Checked on the bytes FastAPI
    would otherwise decode as UTF-16 or UTF-32 from their pattern of zero bytes, out of the
    NUL guard's sight."""
    if method not in _BODY_METHODS or not body:
        return None
    media, params = parse_options_header(content_type)
    if not is_json_media(media):
        return _NOT_JSON
    charset = params.get(b"charset")
    if charset is not None and charset.lower() not in (b"utf-8", b"utf8"):
        return _NOT_UTF8
    if json.detect_encoding(body) not in ("utf-8", "utf-8-sig"):
        return _NOT_UTF8
    return None


_NOT_FORM = "The console's forms are sent as application/x-www-form-urlencoded in UTF-8."


def console_body_refusal(method: str, content_type: bytes | None, body: bytes) -> str | None:
    """Why a console request's body is refused as 415, or None: the console's pages post
    plain HTML forms (URL-encoded, UTF-8), never JSON and never files."""
    if method not in _BODY_METHODS or not body:
        return None
    media, params = parse_options_header(content_type)
    if media != b"application/x-www-form-urlencoded":
        return _NOT_FORM
    charset = params.get(b"charset")
    if charset is not None and charset.lower() not in (b"utf-8", b"utf8"):
        return _NOT_FORM
    return None


class _Exchange:
    """One request's answer as the edge sees it: whether it has started, with what status,
    and the headers every response gets (replacing any the app set under those names)."""

    def __init__(
        self, send: Send, added: list[tuple[bytes, bytes]], replaced: frozenset[bytes]
    ) -> None:
        self._send = send
        self._added = added
        self._replaced = replaced
        self.status = 500
        self.started = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            kept = [h for h in message.get("headers", []) if h[0].lower() not in self._replaced]
            message["headers"] = [*kept, *self._added]
        await self._send(message)


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises ``_BodyTooLarge`` once the body passes ``limit`` bytes."""
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _BodyTooLarge(limit)
        return message

    return counted


class EdgeMiddleware:
    """The whole edge, in one layer: nothing else stands between the server and the router
    (main.py builds the stack; CORS, when configured, between the edge and the router), so a
    request pays for one wrapper where it paid for seven (docs/decisions.md, issue 17).

    Also what Starlette's error and exception middleware did: the app's exception handlers
    (errors.py) are put in the scope for the routes and applied here to what the router
    raises itself (404, 405); FastAPI's exit stack for uploaded files is opened here."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body: int,
        max_document_body: int,
        exception_handlers: Mapping[Any, ExceptionHandler] | None = None,
        document_routes: RouteSet | None = None,
        items_alone: RouteSet | None = None,
        hsts_max_age: int = 0,
        docs_pages: tuple[str, ...] = (),
        body_timeout: float = 30.0,
        access_log: bool = False,
        cors: Callable[[ASGIApp], ASGIApp] | None = None,
        console_prefix: str | None = None,
    ) -> None:
        self.router = app
        self.metrics = metrics
        self.max_body = max_body
        self.max_document_body = max_document_body
        self.document_routes = document_routes or RouteSet()
        self.items_alone = items_alone or RouteSet()
        self.hsts_max_age = hsts_max_age
        self.docs_pages = docs_pages
        self.body_timeout = body_timeout
        self.console_prefix = console_prefix
        self._log_level = logging.INFO if access_log else logging.DEBUG
        self._handlers = _split_handlers(exception_handlers or {})
        # CORS, when configured, sits between the edge and the routes: its preflight answers
        # get the edge's headers, and the problems answered for what the router raises get
        # its headers (as when Starlette's exception middleware sat inside it).
        self.app = cors(self._routed) if cors is not None else self._routed
        # Built once: (headers to add, their names) for API paths and for the docs pages.
        self._api_headers = security_headers(False, hsts_max_age)
        self._docs_headers = security_headers(True, hsts_max_age)
        self._console_headers = security_headers(False, hsts_max_age, console=True)
        self._names = frozenset(name for name, _ in [*self._api_headers, (b"x-request-id", b"")])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        console = self._is_console(scope.get("path", ""))
        if console:
            # The console's requests are marked in every access event they write: a request id
            # no API caller can give (theirs are UUIDs), chained with the event (audit/chain.py).
            rid = CONSOLE_REQUEST_ID_PREFIX + new_request_id()
            secure = self._console_headers
        else:
            rid = sane_request_id(headers.get(b"x-request-id", b"").decode("latin-1") or None)
            docs = scope.get("path") in self.docs_pages
            secure = self._docs_headers if docs else self._api_headers
        token = request_id_var.set(rid)
        started = time.perf_counter()
        exchange = _Exchange(send, [*secure, (b"x-request-id", rid.encode("ascii"))], self._names)
        scope["starlette.exception_handlers"] = self._handlers
        try:
            async with AsyncExitStack() as files:
                scope["fastapi_middleware_astack"] = files
                await self._pass(scope, receive, exchange, headers)
        except _BodyTooLarge as exc:
            if not exchange.started:
                await self._send_problem(exchange.send, 413, exc.detail)
        except _BodyTimedOut:
            await self._send_problem(
                exchange.send,
                408,
                f"The request body did not arrive within {self.body_timeout:g} seconds.",
            )
        except _ClientGone:
            exchange.status = 499  # as nginx logs it: the client closed the request, no answer
        except Exception as exc:
            await _last_resort(exc, scope, receive, exchange)
        finally:
            self._observe(scope, exchange.status, time.perf_counter() - started)
            request_id_var.reset(token)

    def _is_console(self, path: str) -> bool:
        prefix = self.console_prefix
        return prefix is not None and (path == prefix or path.startswith(prefix + "/"))

    async def _pass(
        self, scope: Scope, receive: Receive, exchange: _Exchange, headers: dict[bytes, bytes]
    ) -> None:
        """The request on to the app, its body read whole first; or the edge's refusal."""
        method, path = scope.get("method", ""), scope.get("path", "")
        document = (method, path) in self.document_routes
        limit = self.max_document_body if document else self.max_body
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._send_problem(exchange.send, 413, f"Request body over {limit} bytes.")
            return
        counted = _limited(receive, limit)
        if not _has_body(headers):
            await self.app(scope, counted, exchange.send)
            return
        # The whole body before the app runs: no session, no transaction and no lock is ever
        # held while a client takes its time sending it.
        body = await self._read_body(counted)
        content_type = headers.get(b"content-type")
        if document:
            refusal = None
        elif self._is_console(path):
            refusal = console_body_refusal(method, content_type, body)
        else:
            refusal = body_refusal(method, content_type, body)
        if refusal is not None:
            await self._send_problem(exchange.send, 415, refusal, close=False)
            return
        nul = self._nul_refusal(method, path, content_type, body)
        if nul is not None:
            await nul(scope, receive, exchange.send)
            return
        await self.app(scope, _replay(body, receive), exchange.send)

    def _nul_refusal(
        self, method: str, path: str, content_type: bytes | None, body: bytes
    ) -> Response | None:
        """The 422 for a JSON body whose strings hold U+0000, or None. PostgreSQL cannot
        store it in a text column (the insert failed, a 503 for bad input) and SQLite would
        keep it, so no text takes it; the bytes are only parsed when they hold the escape.

        Not the paths of ``items_alone`` (routes marked ``deps.items_checked_alone``: the
        batch), whatever the method: there one bad item fails only itself (docs/api.md), and
        each item's validation already refuses control characters in the four fields and any
        unknown key."""
        if method not in _BODY_METHODS or b"\\u0000" not in body:
            return None
        media = (content_type or b"").split(b";")[0].strip().lower()
        if not media.endswith(b"json") or self.items_alone.holds_path(path):
            return None
        try:
            where = _nul_in(body)
        except RecursionError:
            # Nested past the parser's depth: FastAPI's own parse would fail the same way;
            # answered as it would be (errors.py), and never let through unchecked.
            return _invalid([{"loc": ["body"], "msg": "the body could not be parsed"}])
        return None if where is None else _invalid([{"loc": where, "msg": NUL_MSG}])

    async def _routed(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The router, with the app's exception handlers applied to what it raises outside a
        route (an unknown path, a method the path does not take). What a route raises its own
        wrapper answers first (``request_response``), guarding against a started response;
        anything without a handler goes on up to ``_last_resort``."""
        try:
            await self.router(scope, receive, send)
        except Exception as exc:
            handler = self._handler_for(exc) if scope["type"] == "http" else None
            if handler is None:
                raise
            response = handler(Request(scope, receive), exc)
            if inspect.isawaitable(response):
                response = await response
            if response is not None:
                await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Callable[..., Any] | None:
        by_class, by_status = self._handlers
        if isinstance(exc, StarletteHTTPException) and exc.status_code in by_status:
            return by_status[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in by_class:
                return by_class[cls]
        return None

    def _observe(self, scope: Scope, status: int, elapsed: float) -> None:
        """The request's metrics, and its log line (route template, never the path or the
        query): at INFO when the access log is on, else at DEBUG, so that at the usual
        levels no line is formatted or written. The access-event log records every read."""
        route = _route(scope)
        method = scope.get("method", "-")
        self.metrics.observe_request(route, method, status, elapsed)
        if log.isEnabledFor(self._log_level):
            log.log(
                self._log_level,
                "request",
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )

    async def _read_body(self, receive: Receive) -> bytes:
        """The request body, whole: ``_BodyTooLarge`` over the limit (raised by ``receive``),
        ``_BodyTimedOut`` when it is not complete within the body timeout."""
        chunks: list[bytes] = []
        try:
            async with asyncio.timeout(self.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise _ClientGone
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise _BodyTimedOut from None

    @staticmethod
    async def _send_problem(
        send: Send,
        status: int,
        detail: str,
        headers: dict[str, str] | None = None,
        *,
        close: bool = True,
    ) -> None:
        extra = {"Connection": "close"} if close else {}
        response = problem_response(status, detail, headers={**(headers or {}), **extra})
        await response({"type": "http"}, _empty_receive, send)


async def _last_resort(exc: Exception, scope: Scope, receive: Receive, exchange: _Exchange) -> None:
    """An error nothing else answered: logged (a stack trace unless storage failed), and
    answered 503 (storage or keys) or 500 unless the response had already started."""
    storage = is_storage_fault(exc)
    log.error(
        "request failed",
        extra={"error": type(exc).__name__, "route": _route(scope)},
        exc_info=not storage,
    )
    if not exchange.started:
        if storage:
            response = storage_unavailable()
        else:
            response = problem_response(500, "Unexpected error; it has been logged.")
        await response(scope, receive, exchange.send)


_Handlers = tuple[dict[Any, ExceptionHandler], dict[int, ExceptionHandler]]


def _split_handlers(handlers: Mapping[Any, ExceptionHandler]) -> _Handlers:
    """The app's handlers as Starlette's routes look them up in the scope: (by exception
    class, by status code). Starlette's own plain-text answer for an HTTPException stays
    underneath, for an app that sets none."""
    by_class: dict[Any, ExceptionHandler] = {StarletteHTTPException: _plain_http_error}
    by_status: dict[int, ExceptionHandler] = {}
    for key, handler in handlers.items():
        if isinstance(key, int):
            by_status[key] = handler
        else:
            by_class[key] = handler
    return by_class, by_status


async def _plain_http_error(_request: Request, exc: Exception) -> Response:
    error = cast(StarletteHTTPException, exc)
    if error.status_code in {204, 304}:
        return Response(status_code=error.status_code, headers=error.headers)
    return PlainTextResponse(error.detail, status_code=error.status_code, headers=error.headers)


def _invalid(errors: list[dict[str, Any]]) -> Response:
    return problem_response(
        422, "The request is not valid.", slug="validation_error", errors=errors
    )


NUL_MSG = "text may not contain NUL (U+0000)"
_BODY_METHODS = {"POST", "PUT", "PATCH"}


_Link = tuple[str, Any] | None  # a location: (its last step, its parent's link)


def nul_at(value: Any, loc: list[str]) -> list[str] | None:
    """Where in parsed JSON a string (or key) holds U+0000, as a ``loc``; None if nowhere.
    A key holding one is named with U+FFFD in its place. Depth first, in document order, on a
    stack of its own (each location a link to its parent's): however deep the parser went,
    this never meets the recursion limit."""
    stack: list[tuple[Any, _Link]] = [(value, None)]
    while stack:
        item, link = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                steps: list[str] = []
                while link is not None:
                    step, link = link
                    steps.append(step)
                return [*loc, *reversed(steps)]
        elif isinstance(item, dict):
            children: list[tuple[Any, _Link]] = []
            for key, child in item.items():
                here = (key.replace("\x00", "\ufffd"), link)
                if "\x00" in key:
                    children.append(("\x00", here))  # met after the values before it
                    break
                children.append((child, here))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend((child, (str(i), link)) for i, child in reversed(list(enumerate(item))))
    return None


def _nul_in(body: bytes) -> list[str] | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None  # not JSON: the route's own parsing answers 422
    return nul_at(parsed, ["body"])


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app once the edge holds the whole body: the body in one message,
    then the client's own messages (a disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}


def _route(scope: dict[str, Any] | Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
