"""Builds the app. The lifespan owns the engine and the key provider."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from pdvault import __version__
from pdvault.audit.checkpoints import Checkpointer
from pdvault.audit.router import router as audit_router
from pdvault.audit.signing import LogSigner
from pdvault.audit.writer import AuditLog
from pdvault.auth.principal import PrincipalCache
from pdvault.auth.throttle import AuthFailureLimiter
from pdvault.config import Settings, get_settings
from pdvault.console.admindesk_router import router as console_admindesk_router
from pdvault.console.audit_router import router as console_audit_router
from pdvault.console.breachdesk_router import router as console_breachdesk_router
from pdvault.console.compliance_router import router as console_compliance_router
from pdvault.console.dpodesk_router import router as console_dpodesk_router
from pdvault.console.legaldesk_router import router as console_legaldesk_router
from pdvault.console.paperwork_router import router as console_paperwork_router
from pdvault.console.people_router import router as console_people_router
from pdvault.console.router import SIGN_IN
from pdvault.console.router import router as console_router
from pdvault.console.web import PREFIX as CONSOLE_PREFIX
from pdvault.console.web import Console, SignInFirst, is_console_path, problem_page
from pdvault.crypto.factory import open_key_provider
from pdvault.crypto.provider import KeyProvider
from pdvault.customers.justification_router import router as justifications_router
from pdvault.customers.router import router as customers_router
from pdvault.db import make_engine, make_sessionmaker
from pdvault.deps import ITEMS_CHECKED_ALONE, TAKES_DOCUMENT, marked_paths
from pdvault.docs_pages import PAGES as DOCS_PAGES
from pdvault.docs_pages import install_docs
from pdvault.documents.router import router as documents_router
from pdvault.erasure.router import router as erasure_router
from pdvault.errors import Problem, install_error_handlers
from pdvault.governance.router import breaches_router, complaints_router, reports_router
from pdvault.judicial.router import router as judicial_router
from pdvault.keys.router import router as keys_router
from pdvault.middleware import EdgeMiddleware, RouteSet
from pdvault.notifications.router import router as notifications_router
from pdvault.observability import Metrics, configure_logging
from pdvault.openapi_docs import (
    annotate_bodies,
    annotate_roles,
    declare_components,
    operation_id,
)
from pdvault.partners.router import router as partners_router
from pdvault.principals.router import router as principals_router
from pdvault.public.router import router as public_router
from pdvault.runtime import Runtime
from pdvault.subjects.access_router import router as access_requests_router
from pdvault.subjects.router import router as subjects_router

DESCRIPTION = """\
pdvault keeps a shop's customer data encrypted at rest and hands it out only for a stated
purpose to a role allowed that purpose (docs/policy.md), logging every access, allowed or denied.
Errors are RFC 9457 `application/problem+json`; denials carry a `reason` code.
"""

CORS_METHODS = ["GET", "POST", "PATCH", "DELETE"]
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "Idempotency-Key",
    "X-Justification",
    "X-Request-ID",
]
CORS_EXPOSED_HEADERS = ["ETag", "Location", "Retry-After", "X-Request-ID"]


ROUTERS = (
    public_router,
    customers_router,
    subjects_router,
    erasure_router,
    access_requests_router,
    documents_router,
    partners_router,
    judicial_router,
    notifications_router,
    complaints_router,
    breaches_router,
    reports_router,
    audit_router,
    justifications_router,
    principals_router,
    keys_router,
)
# The web console (issue 18): out of the OpenAPI document, off with PDVAULT_CONSOLE=false.
CONSOLE_ROUTERS = (
    console_router,
    console_audit_router,
    console_people_router,
    console_compliance_router,
    console_legaldesk_router,
    console_dpodesk_router,
    console_admindesk_router,
    console_breachdesk_router,
    console_paperwork_router,
)


class EdgeApp(FastAPI):
    """FastAPI with pdvault's edge as its whole middleware stack (middleware.py): Starlette's
    error and exception middleware and FastAPI's body-limit, exception-telemetry and exit-stack
    layers are left out, the edge doing what of their work pdvault uses. Set ``edge`` before
    the first request; middleware added the usual way is refused rather than silently
    dropped."""

    edge: Callable[..., ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        if self.edge is None or self.user_middleware:
            raise RuntimeError("pdvault's stack is its edge alone: set app.edge, add nothing")
        return self.edge(self.router, exception_handlers=self.exception_handlers)


def create_app(settings: Settings | None = None, keys: KeyProvider | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics = Metrics()
    app = EdgeApp(
        title="pdvault",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan(settings, keys, metrics),
        # Off: 404 like any unknown path. `pdvault openapi` builds the document regardless.
        # The pages themselves, with their assets served from here: docs_pages.py.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        # No OpenTelemetry: pdvault's telemetry is its metrics and log lines (the edge). Off,
        # FastAPI stops asking per request whether a provider is configured.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # Operation ids are the route functions' names: what a generated client calls them.
        generate_unique_id_function=operation_id,
    )
    declare_components(app)
    if settings.docs_enabled:
        install_docs(app, "/openapi.json")
    install_error_handlers(app)
    for router in ROUTERS:
        annotate_roles(router)
        annotate_bodies(router)
        app.include_router(router)  # no prefix: the edge matches the routers' own paths
    if settings.console:
        _install_console(app, settings)
    _install_middleware(app, settings, metrics)
    return app


def _install_console(app: FastAPI, settings: Settings) -> None:
    """The console's pages, its state (``app.state.console``) and its handlers: a page asked
    for without a working session answers 303 to the sign-in page; a problem raised on a
    console page is answered as a page (``web.problem_page``), on the API as before."""
    app.state.console = Console(settings)

    async def sign_in_first(_request: Request, _exc: Exception) -> RedirectResponse:
        return RedirectResponse(SIGN_IN, status_code=303)

    app.add_exception_handler(SignInFirst, sign_in_first)
    api_problem = app.exception_handlers[Problem]

    async def on_problem(request: Request, exc: Exception) -> Response:
        if is_console_path(request.url.path):
            return problem_page(request, cast(Problem, exc))
        response: Response = await api_problem(request, exc)  # type: ignore[misc]
        return response

    app.add_exception_handler(Problem, on_problem)
    for router in CONSOLE_ROUTERS:
        app.include_router(router)


_heap_settled = False


def settle_heap() -> None:
    """Once per process, when the app has started: everything alive now (modules, routes,
    the runtime) lives as long as the process, so it moves out of the garbage collector's
    generations (``gc.freeze``). A full collection then walks only what requests allocate,
    instead of every object of the app: under a batch import that took a fifth of the CPU
    (docs/performance.md, issue 17). Later lifespans in the same process (tests) leave it."""
    global _heap_settled
    if _heap_settled:
        return
    _heap_settled = True
    gc.collect()
    gc.freeze()


def _lifespan(
    settings: Settings, keys: KeyProvider | None, metrics: Metrics
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: opens the key provider (unless given one) and the vault on it as
    ``app.state.runtime``; closes them at shutdown."""
    auth_failures = AuthFailureLimiter(
        settings.auth_failure_limit,
        settings.auth_failure_window_seconds,
        max_clients=settings.auth_failure_max_clients,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        provider = keys or await open_key_provider(settings)
        runtime = _assemble(settings, provider, metrics, auth_failures)
        app.state.runtime = runtime
        runtime.checkpointer.start()
        settle_heap()
        try:
            yield
        finally:
            await runtime.checkpointer.stop()
            await runtime.audit.close()
            await runtime.engine.dispose()
            if keys is None:
                await provider.close()

    return lifespan


def _assemble(
    settings: Settings, provider: KeyProvider, metrics: Metrics, auth_failures: AuthFailureLimiter
) -> Runtime:
    """The engine, its sessions and the access log (with its checkpointer) on ``provider``."""
    engine = make_engine(
        settings.effective_database_url,
        pool_size=settings.db_pool_size,
        lock_timeout_ms=settings.db_lock_timeout_ms,
    )
    sessions = make_sessionmaker(engine)
    metrics.watch_pool(engine.sync_engine.pool)
    signer = LogSigner(provider.signing_seed())
    audit = AuditLog(
        metrics,
        signer,
        slots=settings.audit_slots,
        enabled=not settings.bench_disable_audit_log,
    )
    checkpointer = Checkpointer(
        sessions,
        signer,
        every_events=settings.audit_checkpoint_every_events,
        every_seconds=settings.audit_checkpoint_every_seconds,
    )
    audit.on_append.append(checkpointer.appended)
    audit.attach(sessions)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        keys=provider,
        audit=audit,
        metrics=metrics,
        principals=PrincipalCache(settings.auth_cache_seconds),
        checkpointer=checkpointer,
        auth_failures=auth_failures,
        read_sessions=make_sessionmaker(engine, read_only=True),
    )


def _install_middleware(app: EdgeApp, settings: Settings, metrics: Metrics) -> None:
    """The edge, with CORS (when origins are configured) between it and the routes."""
    cors: Callable[[ASGIApp], ASGIApp] | None = None
    if settings.cors_origin_list:
        # Inside the edge, so preflight answers carry the request id and security headers.
        # Bearer tokens, never cookies: no credentials mode.
        cors = partial(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            allow_credentials=False,
            max_age=600,
        )
    options: dict[str, Any] = {
        "metrics": metrics,
        "max_body": settings.max_body_bytes,
        "max_document_body": settings.max_document_bytes,
        "document_routes": RouteSet(marked_paths(ROUTERS, TAKES_DOCUMENT)),
        "items_alone": RouteSet(marked_paths(ROUTERS, ITEMS_CHECKED_ALONE)),
        "hsts_max_age": settings.hsts_max_age,
        "docs_pages": DOCS_PAGES if settings.docs_enabled else (),
        "body_timeout": settings.body_timeout_seconds,
        "access_log": settings.http_access_log,
        "cors": cors,
        "console_prefix": CONSOLE_PREFIX if settings.console else None,
    }
    app.edge = partial(EdgeMiddleware, **options)
