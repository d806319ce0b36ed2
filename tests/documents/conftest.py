"""Fixtures for the document tests: fake files, an upload helper, the documents' events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Issued, TokenFactory, access_events

# Clearly fake documents. MARKER is a run of plaintext that must never appear at rest.
MARKER = b"HOA-DON-MAU Nguyen Van Mau 09xxxxxxxx khach.mau@example.com"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n% " + MARKER + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 13 + MARKER
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + MARKER + b"\xff\xd9"
GIF = b"GIF89a\x01\x00\x01\x00" + MARKER
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + MARKER
TIFF = b"II*\x00\x08\x00\x00\x00" + MARKER
XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<HDon><DLHDon><TTChung><SHDon>0000001</SHDon>'
    b"</TTChung></DLHDon><!-- " + MARKER + b" --></HDon>\n"
)
TEXT = "Biên lai mẫu — ".encode() + MARKER + b"\n"


@pytest.fixture
async def shop(issue: TokenFactory) -> Issued:
    return await issue("storefront", "test-storefront")


@pytest.fixture
async def staff(issue: TokenFactory) -> Issued:
    return await issue("employee", "test-employee")


@pytest.fixture
async def dpo(issue: TokenFactory) -> Issued:
    return await issue("dpo", "test-dpo")


Upload = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def upload(client: httpx.AsyncClient) -> Upload:
    async def _upload(
        who: Issued,
        customer_id: str,
        data: bytes = PDF,
        *,
        kind: str = "invoice",
        order_ref: str = "DH-MAU-0001",
        filename: str = "hoa-don-mau.pdf",
        declared: str = "application/pdf",
    ) -> httpx.Response:
        return await client.post(
            f"/v1/customers/{customer_id}/documents",
            files={"file": (filename, data, declared)},
            data={"kind": kind, "order_ref": order_ref},
            headers=who.headers,
        )

    return _upload


Download = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def download(client: httpx.AsyncClient) -> Download:
    async def _download(
        who: Issued, customer_id: str, document_id: str, purpose: str | None
    ) -> httpx.Response:
        params = {"purpose": purpose} if purpose is not None else {}
        return await client.get(
            f"/v1/customers/{customer_id}/documents/{document_id}",
            params=params,
            headers=who.headers,
        )

    return _download


async def document_events(app: Any, **where: Any) -> list[dict[str, Any]]:
    return [e for e in await access_events(app, **where) if e["action"].startswith("document.")]
