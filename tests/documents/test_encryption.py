"""Documents at rest: ciphertext only, one key per document, bound to its row and customer."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url

from pdvault.crypto.envelope import DecryptionError, seal
from pdvault.crypto.provider import WrappedKey
from pdvault.documents.models import Document
from tests.conftest import Issued
from tests.documents.conftest import MARKER, PDF, PNG, Download, Upload, document_events
from tests.helpers import assert_problem

MakeCustomer = Callable[..., Awaitable[str]]


async def stored(upload: Upload, shop: Issued, cid: str, data: bytes = PDF) -> str:
    r = await upload(shop, cid, data)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_no_plaintext_at_rest(
    app: Any, upload: Upload, shop: Issued, make_customer: MakeCustomer, database_url: str
) -> None:
    cid = await make_customer()
    for data in (PDF, PNG):
        await stored(upload, shop, cid, data)
    async with app.state.runtime.sessions() as session:
        blobs = (await session.scalars(text("SELECT ciphertext FROM documents"))).all()
        assert len(blobs) == 2
        for blob in blobs:
            assert MARKER not in bytes(blob)
            assert b"%PDF" not in bytes(blob)
        if database_url.startswith("postgresql"):
            hit = await session.scalar(
                text("SELECT count(*) FROM documents WHERE position(:m in ciphertext) > 0"),
                {"m": MARKER},
            )
            assert hit == 0
    if database_url.startswith("sqlite"):
        path = Path(str(make_url(database_url).database))
        files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
        assert files
        for file in files:  # the database, its WAL and shared memory
            assert MARKER not in file.read_bytes(), file.name


async def test_each_document_has_its_own_key_bound_to_its_id(
    app: Any, upload: Upload, shop: Issued, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    first, second = await stored(upload, shop, cid), await stored(upload, shop, cid)
    keys = app.state.runtime.keys
    async with app.state.runtime.sessions() as session:
        rows = {
            str(d.id): d
            for d in await session.scalars(
                select(Document).where(Document.customer_id == uuid.UUID(cid))
            )
        }
    a, b = rows[first], rows[second]
    assert a.wrapped_dek != b.wrapped_dek
    key_a = await keys.unwrap_data_key(WrappedKey(a.kek_version, a.wrapped_dek), a.id)
    key_b = await keys.unwrap_data_key(WrappedKey(b.kek_version, b.wrapped_dek), b.id)
    assert key_a != key_b
    with pytest.raises(DecryptionError):  # a wrapped key opens only for its own document
        await keys.unwrap_data_key(WrappedKey(a.kek_version, a.wrapped_dek), b.id)


@pytest.mark.parametrize("what", ["ciphertext", "key_and_ciphertext"])
async def test_a_ciphertext_moved_to_another_row_fails_closed(
    app: Any,
    upload: Upload,
    download: Download,
    shop: Issued,
    staff: Issued,
    make_customer: MakeCustomer,
    what: str,
) -> None:
    cid = await make_customer()
    source, target = await stored(upload, shop, cid, PNG), await stored(upload, shop, cid)
    async with app.state.runtime.sessions() as session:
        src = await session.get(Document, uuid.UUID(source))
        assert src is not None
        blob = await session.scalar(
            select(Document.ciphertext).where(Document.id == uuid.UUID(source))
        )
        values: dict[str, Any] = {"ciphertext": blob}
        if what == "key_and_ciphertext":
            values.update(kek_version=src.kek_version, wrapped_dek=src.wrapped_dek)
        await session.execute(
            update(Document).where(Document.id == uuid.UUID(target)).values(**values)
        )
        await session.commit()
    r = await download(staff, cid, target, "accounting")
    assert_problem(r, 503)
    assert MARKER not in r.content
    events = await document_events(app, action="document.read")
    assert [(e["outcome"], e["reason"], e["basis"]) for e in events] == [
        ("denied", "integrity_failure", f"document:{target}")
    ]
    r = await download(staff, cid, source, "accounting")  # the original still opens
    assert r.status_code == 200
    assert r.content == PNG


async def test_a_document_moved_to_another_customer_fails_closed(
    app: Any,
    upload: Upload,
    download: Download,
    shop: Issued,
    staff: Issued,
    make_customer: MakeCustomer,
) -> None:
    owner, other = await make_customer(), await make_customer()
    doc = await stored(upload, shop, owner)
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(Document)
            .where(Document.id == uuid.UUID(doc))
            .values(customer_id=uuid.UUID(other))
        )
        await session.commit()
    r = await download(staff, other, doc, "accounting")
    assert_problem(r, 503)
    assert MARKER not in r.content


async def _set_content_type(app: Any, doc: str, content_type: str) -> None:
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(Document).where(Document.id == uuid.UUID(doc)).values(content_type=content_type)
        )
        await session.commit()


@pytest.mark.parametrize("forged", ["text/html", "image/svg+xml", "image/png", "text/plain"])
async def test_a_content_type_changed_in_the_database_fails_closed(
    app: Any,
    upload: Upload,
    download: Download,
    shop: Issued,
    staff: Issued,
    make_customer: MakeCustomer,
    forged: str,
) -> None:
    """The sniffed type is bound into the ciphertext's associated data (issue 14.14): a row
    whose type was changed is never served, as that type or any other."""
    cid = await make_customer()
    doc = await stored(upload, shop, cid)
    await _set_content_type(app, doc, forged)
    r = await download(staff, cid, doc, "accounting")
    assert_problem(r, 503)
    assert MARKER not in r.content
    events = await document_events(app, action="document.read")
    assert [(e["outcome"], e["reason"]) for e in events] == [("denied", "integrity_failure")]
    await _set_content_type(app, doc, "application/pdf")  # put back, it opens again
    r = await download(staff, cid, doc, "accounting")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert r.content == PDF


async def _as_legacy(app: Any, doc: str, data: bytes) -> None:
    """Re-seal a document in the first format (no content type in the associated data)."""
    async with app.state.runtime.sessions() as session:
        row = await session.get(Document, uuid.UUID(doc))
        assert row is not None
        key = await app.state.runtime.keys.unwrap_data_key(
            WrappedKey(row.kek_version, row.wrapped_dek), row.id
        )
        context = b"pdvault/document|1|%s|%s" % (row.id.hex.encode(), row.customer_id.hex.encode())
        await session.execute(
            update(Document)
            .where(Document.id == row.id)
            .values(ciphertext=b"\x01" + seal(key, data, context))
        )
        await session.commit()


@pytest.mark.parametrize("forged", ["text/html", "image/png", "text/plain"])
async def test_a_legacy_document_is_served_only_as_what_its_bytes_are(
    app: Any,
    upload: Upload,
    download: Download,
    shop: Issued,
    staff: Issued,
    make_customer: MakeCustomer,
    forged: str,
) -> None:
    """A document sealed before the type was bound still opens, under its own type only: its
    bytes are sniffed again on the way out (docs/decisions.md)."""
    cid = await make_customer()
    doc = await stored(upload, shop, cid)
    await _as_legacy(app, doc, PDF)
    r = await download(staff, cid, doc, "accounting")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.content == PDF
    await _set_content_type(app, doc, forged)
    r = await download(staff, cid, doc, "accounting")
    assert_problem(r, 503)
    assert MARKER not in r.content
