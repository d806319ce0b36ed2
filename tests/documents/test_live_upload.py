"""Uploads through a real uvicorn on 127.0.0.1: real chunked bodies meet the edge limit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from pdvault.config import Settings
from pdvault.policy import Role
from pdvault.principals.bootstrap import create_principal_with_token
from pdvault.principals.schemas import PrincipalIn
from tests.conftest import customer_body
from tests.documents.conftest import PDF

pytestmark = pytest.mark.e2e

LIMIT = 64 * 1024


@pytest.fixture
def live(live_server_factory: Callable[..., Any]) -> Any:
    return live_server_factory(
        workers=1, PDVAULT_MAX_DOCUMENT_BYTES=str(LIMIT), PDVAULT_MAX_BODY_BYTES="4096"
    )


@pytest.fixture
def shop_headers(live: Any, database_url: str) -> dict[str, str]:
    settings = Settings(database_url=database_url, _env_file=None)  # type: ignore[call-arg]
    token = asyncio.run(
        create_principal_with_token(
            settings, PrincipalIn(name="e2e-storefront", role=Role.STOREFRONT), 1
        )
    )
    return {"Authorization": f"Bearer {token}"}


def body_of(data: bytes, boundary: str = "mau-live") -> tuple[bytes, str]:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\ninvoice\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="order_ref"\r\n\r\nDH-1\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
    ).encode()
    return (
        head + data + f"\r\n--{boundary}--\r\n".encode(),
        f"multipart/form-data; boundary={boundary}",
    )


def chunked(body: bytes, size: int = 8192) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_chunked_uploads_meet_the_documents_limit(live: Any, shop_headers: dict[str, str]) -> None:
    with httpx.Client(base_url=live.base_url, timeout=20) as client:
        r = client.post("/v1/customers", json=customer_body(), headers=shop_headers)
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        url = f"/v1/customers/{cid}/documents"

        small = PDF + b"0" * (LIMIT // 2)  # over the general 4 KiB limit, under the documents one
        body, ctype = body_of(small)
        r = client.post(url, content=chunked(body), headers={**shop_headers, "Content-Type": ctype})
        assert r.request.headers.get("transfer-encoding") == "chunked"
        assert r.status_code == 201, r.text
        doc = r.json()["id"]

    with httpx.Client(base_url=live.base_url, timeout=20) as client:
        body, ctype = body_of(PDF + b"0" * (LIMIT * 2))
        r = client.post(url, content=chunked(body), headers={**shop_headers, "Content-Type": ctype})
        assert r.status_code == 413, r.text
        assert r.headers["content-type"].startswith("application/problem+json")

    with httpx.Client(base_url=live.base_url, timeout=20) as client:
        r = client.post(url, content=body, headers={**shop_headers, "Content-Type": ctype})
        assert r.status_code == 413, r.text
        r = client.get(
            f"{url}/{doc}", params={"purpose": "customer_self_service"}, headers=shop_headers
        )
        assert r.status_code == 200, r.text
        assert r.content == small
