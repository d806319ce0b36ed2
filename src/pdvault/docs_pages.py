"""The /docs (Swagger UI) and /redoc pages, with every asset served by the app itself.

The bundles come from the ``fastapi-offline`` package (Swagger UI 5, ReDoc 2), not from a CDN
and not copied into this repository: the pages work offline and behind a proxy that allows
nothing out. FastAPI's Swagger page bootstraps with an inline script; that script is moved
into a served file (``/docs/swagger-init.js``), so the pages' CSP admits script from 'self'
only (middleware.py).
"""

from __future__ import annotations

import re
from importlib.resources import files
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

SWAGGER_PAGE = "/docs"
REDOC_PAGE = "/redoc"
# The HTML pages: the edge gives these the CSP that lets them load (middleware.py).
PAGES = (SWAGGER_PAGE, REDOC_PAGE)
ASSETS = "/docs/assets"
SWAGGER_INIT = "/docs/swagger-init.js"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
# Swagger's defaults as FastAPI sets them; no OAuth2 redirect (the API takes bearer tokens),
# no online validator (it would send the document elsewhere).
_SWAGGER_PARAMETERS: dict[str, Any] = {"persistAuthorization": False, "validatorUrl": None}


def asset_directory() -> str:
    """Where fastapi-offline keeps swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js."""
    return str(files("fastapi_offline") / "static")


def swagger_page(openapi_url: str, title: str) -> tuple[str, str]:
    """The Swagger UI page with its bootstrap moved out, and that bootstrap (JavaScript)."""
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{title} - Swagger UI",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon.png",
        oauth2_redirect_url=None,
        swagger_ui_parameters=_SWAGGER_PARAMETERS,
    ).body
    html = bytes(page).decode()
    inline = _INLINE_SCRIPT.findall(html)
    if len(inline) != 1:  # FastAPI changed its page: fail at start-up, not in a browser
        raise RuntimeError("expected one inline script in FastAPI's Swagger UI page")
    html = _INLINE_SCRIPT.sub(f'<script src="{SWAGGER_INIT}"></script>', html)
    return html, inline[0].strip() + "\n"


def redoc_page(openapi_url: str, title: str) -> str:
    page = get_redoc_html(
        openapi_url=openapi_url,
        title=f"{title} - ReDoc",
        redoc_js_url=f"{ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSETS}/favicon.png",
        with_google_fonts=False,
    ).body
    return bytes(page).decode()


def install_docs(app: FastAPI, openapi_url: str) -> None:
    """GET /docs, /docs/swagger-init.js, /redoc and the assets under /docs/assets."""
    swagger_html, swagger_init = swagger_page(openapi_url, app.title)
    redoc_html = redoc_page(openapi_url, app.title)

    @app.get(SWAGGER_PAGE, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(swagger_html)

    @app.get(SWAGGER_INIT, include_in_schema=False)
    async def swagger_ui_init() -> Response:
        return Response(swagger_init, media_type="text/javascript")

    @app.get(REDOC_PAGE, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return HTMLResponse(redoc_html)

    app.mount(ASSETS, StaticFiles(directory=asset_directory()), name="docs-assets")
