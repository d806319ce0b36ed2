"""/docs can make a call (issue 15.2): the contract declares bearer auth and, per operation,
the roles that may call it; the Swagger UI and ReDoc pages load every asset from the app
itself (from the fastapi-offline package), under a CSP that admits only 'self' for script."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from pdvault.policy import ALLOWED_ROLES

COMMITTED = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


def _references(html: str) -> list[str]:
    return re.findall(r'(?:src|href|spec-url)\s*=\s*["\']([^"\']+)', html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_page_loads_everything_from_the_app(client: httpx.AsyncClient, page: str) -> None:
    r = await client.get(page)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "http://" not in html, "an external host in the page"
    assert "https://" not in html, "an external host in the page"
    assert "//" not in "".join(_references(html)), "a protocol-relative (external) reference"
    refs = [ref for ref in _references(html) if ref != "/openapi.json"]
    assert any(ref.endswith(".js") for ref in refs), refs
    for ref in refs:
        assert ref.startswith("/"), ref
        asset = await client.get(ref)
        assert asset.status_code == 200, ref
        kind = TYPES[Path(ref).suffix]
        assert kind in asset.headers["content-type"], (ref, asset.headers["content-type"])
        assert len(asset.content) > 0
        if ref.endswith(".js"):
            assert "https://cdn" not in asset.text[:2000]
    # No inline script: every <script> names a served file.
    for script in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
        assert "src=" in script[0], script
        assert not script[1].strip(), script


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_page_csp_admits_only_self(client: httpx.AsyncClient, page: str) -> None:
    csp = (await client.get(page)).headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # no inline script, no CDN
    assert directives["connect-src"] == "'self'"  # "Try it out" calls this API only
    assert "http" not in csp
    assert "unsafe-eval" not in csp


async def test_swagger_is_initialised_from_a_served_file(client: httpx.AsyncClient) -> None:
    html = (await client.get("/docs")).text
    init = [ref for ref in _references(html) if "init" in ref]
    assert len(init) == 1, _references(html)
    js = (await client.get(init[0])).text
    assert "SwaggerUIBundle(" in js
    assert "'/openapi.json'" in js or '"/openapi.json"' in js


async def test_the_bundle_is_swagger_ui_5(client: httpx.AsyncClient) -> None:
    """OpenAPI 3.1 (what FastAPI serves) needs Swagger UI 5; 4.x cannot render it."""
    html = (await client.get("/docs")).text
    bundle = next(ref for ref in _references(html) if ref.endswith("swagger-ui-bundle.js"))
    assert re.search(r'"5\.\d+\.\d+"', (await client.get(bundle)).text)


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op) for path, item in doc["paths"].items() for method, op in item.items()
    ]


def test_contract_declares_bearer_auth_and_roles_per_operation() -> None:
    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http"
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    gated = 0
    for path, method, op in _operations(doc):
        roles = op.get("x-pdvault-roles")
        if roles is None:
            assert "security" not in op, (method, path)  # public: no token asked
            continue
        gated += 1
        assert op["security"] == [{"bearerAuth": []}], (method, path)
        assert f"Roles: {', '.join(roles)}." in op["description"], (method, path)
    assert gated >= len(ALLOWED_ROLES)  # every gated operation has at least one route
    policy = doc["paths"]["/v1/policy"]["get"]
    assert "security" not in policy


async def test_served_document_declares_bearer_auth(
    client: httpx.AsyncClient,
) -> None:
    served = (await client.get("/openapi.json")).json()
    assert served["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
