"""Bodies over the documents limit are 413, whether declared up front or streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring
from pdvault.crypto.provider import LocalKeyProvider
from pdvault.main import create_app
from tests.conftest import Issued
from tests.documents.conftest import PDF
from tests.helpers import assert_problem

MakeCustomer = Callable[..., Awaitable[str]]
SMALL = 4096


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """A small documents limit keeps these fast; the general limit stays below it."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        max_document_bytes=SMALL,
        max_body_bytes=1024,
        _env_file=None,  # type: ignore[call-arg]
    )


def multipart(data: bytes, boundary: str = "mau-boundary") -> tuple[bytes, str]:
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="kind"\r\n\r\ninvoice\r\n'
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="order_ref"\r\n\r\nDH-MAU-1\r\n'
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


async def test_declared_length_over_the_limit_is_413(
    app: Any, client: httpx.AsyncClient, shop: Issued, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    body, ctype = multipart(PDF + b"0" * SMALL)
    r = await client.post(
        f"/v1/customers/{cid}/documents",
        content=body,
        headers={**shop.headers, "Content-Type": ctype},
    )
    assert_problem(r, 413)


async def test_streamed_body_over_the_limit_is_413(
    app: Any, client: httpx.AsyncClient, shop: Issued, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    body, ctype = multipart(PDF + b"0" * SMALL)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 512):
            yield body[start : start + 512]

    r = await client.post(
        f"/v1/customers/{cid}/documents",
        content=chunks(),
        headers={**shop.headers, "Content-Type": ctype},
    )
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert_problem(r, 413)


async def test_under_the_limit_streamed_is_stored(
    client: httpx.AsyncClient, shop: Issued, make_customer: MakeCustomer
) -> None:
    """Over the 1024-byte general limit, under the documents limit: accepted."""
    cid = await make_customer()
    body, ctype = multipart(PDF + b"0" * 2048)

    async def chunks() -> AsyncIterator[bytes]:
        yield body[:1000]
        yield body[1000:]

    r = await client.post(
        f"/v1/customers/{cid}/documents",
        content=chunks(),
        headers={**shop.headers, "Content-Type": ctype},
    )
    assert r.status_code == 201, r.text
    assert r.json()["size"] == len(PDF) + 2048


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/customers/{}/documents/"),
        ("POST", "/v1/customers/{}/documents/x"),
        ("POST", "/v1/customers/{}/documentsx"),
        ("PATCH", "/v1/customers/{}/documents"),
        ("POST", "/v1/customers/batch"),
    ],
)
async def test_only_the_upload_route_gets_the_documents_limit(
    client: httpx.AsyncClient, shop: Issued, method: str, path: str
) -> None:
    r = await client.request(
        method,
        path.format("0193a5b0-7e2c-7d11-8c4a-5f0e00000001"),
        content=b"x" * 2048,
        headers={**shop.headers, "Content-Type": "application/json"},
    )
    assert_problem(r, 413)


def test_the_default_documents_limit_is_20_mib() -> None:
    assert Settings(_env_file=None).max_document_bytes == 20 * 1024 * 1024  # type: ignore[call-arg]


async def test_the_default_limit_is_enforced(
    database_url: str, tmp_path: Path, keyring: Keyring, app: Any
) -> None:
    """With default settings: 3 MiB (over the general 1 MiB) is stored; 20 MiB + 1 is 413."""
    default = Settings(database_url=database_url, data_dir=tmp_path / "d", _env_file=None)  # type: ignore[call-arg]
    assert default.max_body_bytes < 3 * 1024 * 1024 < default.max_document_bytes
    application = create_app(default, LocalKeyProvider(keyring))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            from tests.conftest import customer_body

            token = await _storefront_token(application)
            headers = {"Authorization": f"Bearer {token}"}
            r = await c.post("/v1/customers", json=customer_body(), headers=headers)
            assert r.status_code == 201, r.text
            cid = r.json()["id"]
            big = PDF + b"0" * (3 * 1024 * 1024)
            r = await c.post(
                f"/v1/customers/{cid}/documents",
                files={"file": ("a.pdf", big, "application/pdf")},
                data={"kind": "invoice", "order_ref": "DH-MAU-2"},
                headers=headers,
            )
            assert r.status_code == 201, r.text
            assert r.json()["size"] == len(big)
            body, ctype = multipart(b"%PDF-" + b"0" * (20 * 1024 * 1024))
            r = await c.post(
                f"/v1/customers/{cid}/documents",
                content=body,
                headers={**headers, "Content-Type": ctype},
            )
            assert_problem(r, 413)


async def _storefront_token(application: Any) -> str:
    from pdvault.policy import Role
    from pdvault.principals import service
    from pdvault.principals.schemas import PrincipalIn

    async with application.state.runtime.sessions() as session:
        principal = await service.create_principal(
            session, PrincipalIn(name="limit-storefront", role=Role.STOREFRONT)
        )
        created = await service.issue_token(session, principal, 1)
        await session.commit()
    return created.token
