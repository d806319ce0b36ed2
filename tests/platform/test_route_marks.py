"""What a route is, read from the mark on its endpoint (deps.read_route and the others): the
routes marked, and what the edge's tables built from them match."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from pdvault.deps import ITEMS_CHECKED_ALONE, READ_ROUTE, TAKES_DOCUMENT, marked_paths
from pdvault.main import ROUTERS
from pdvault.middleware import RouteSet


def _marked(mark: str) -> set[tuple[str, str]]:
    return {
        (method, route.path)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and getattr(route.endpoint, mark, False)
        for method in route.methods
    }


def test_the_read_routes() -> None:
    assert _marked(READ_ROUTE) == {
        ("GET", "/v1/customers/{customer_id}"),
        ("POST", "/v1/customers/search"),
        ("GET", "/v1/partner/customers/{customer_id}"),
        ("GET", "/v1/audit/events"),
    }


def test_the_document_upload_and_the_batch() -> None:
    assert _marked(TAKES_DOCUMENT) == {("POST", "/v1/customers/{customer_id}/documents")}
    assert _marked(ITEMS_CHECKED_ALONE) == {("POST", "/v1/customers/batch")}


def test_the_edge_matches_whole_paths_by_method() -> None:
    uploads = RouteSet(marked_paths(ROUTERS, TAKES_DOCUMENT))
    assert ("POST", "/v1/customers/abc/documents") in uploads
    assert ("GET", "/v1/customers/abc/documents") not in uploads
    assert ("POST", "/v1/customers/abc/documents/") not in uploads
    assert ("POST", "/v1/customers/abc/documents\n") not in uploads
    assert ("POST", "/v1/customers/a/b/documents") not in uploads
    assert uploads.holds_path("/v1/customers/abc/documents")
    assert not RouteSet().holds_path("/v1/customers/batch")


async def test_a_marked_route_gets_a_read_session(
    app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = app.state.runtime
    real = runtime.sessions_for
    asked: list[bool] = []

    def recording(read_only: bool) -> Any:
        asked.append(read_only)
        return real(read_only)

    monkeypatch.setattr(runtime, "sessions_for", recording)
    some = uuid.uuid4()
    # The request's session opens before authentication: no token needed to see which.
    assert (await client.get(f"/v1/customers/{some}")).status_code == 401
    assert asked[:1] == [True]
    asked.clear()
    assert (await client.get(f"/v1/customers/{some}/documents")).status_code == 401
    assert asked[:1] == [False]
