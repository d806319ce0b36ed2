"""POST /v1/customers/{id}/documents: kinds, retention, validation, refusals (all logged)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from pdvault.customers.models import Customer
from pdvault.db import utcnow
from tests.conftest import Issued
from tests.documents.conftest import PDF, Upload, document_events
from tests.helpers import assert_problem

MakeCustomer = Callable[..., Awaitable[str]]
ICT = timezone(timedelta(hours=7))


def end_of_vietnamese_year_plus(years: int, moment: datetime) -> datetime:
    return datetime(moment.astimezone(ICT).year + 1 + years, 1, 1, tzinfo=ICT)


@pytest.mark.parametrize(
    ("kind", "years"), [("invoice", 10), ("receipt", 10), ("contract", 10), ("other", None)]
)
async def test_upload_each_kind(
    app: Any,
    upload: Upload,
    shop: Issued,
    make_customer: MakeCustomer,
    kind: str,
    years: int | None,
) -> None:
    cid = await make_customer()
    before = utcnow()
    r = await upload(shop, cid, kind=kind, order_ref="DH-MAU-2026/0001_a.b")
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {
        "id", "customer_id", "kind", "order_ref", "content_type", "size", "created_at",
        "retain_until", "shredded_at",
    }  # fmt: skip
    assert body["customer_id"] == cid
    assert body["kind"] == kind
    assert body["order_ref"] == "DH-MAU-2026/0001_a.b"
    assert body["content_type"] == "application/pdf"
    assert body["size"] == len(PDF)
    assert body["shredded_at"] is None
    if years is None:
        assert body["retain_until"] is None
    else:
        until = datetime.fromisoformat(body["retain_until"])
        assert until == end_of_vietnamese_year_plus(years, before)
        assert until - before >= timedelta(days=365 * years)
    events = await document_events(app, action="document.upload")
    assert len(events) == 1
    event = events[0]
    assert event["outcome"] == "allowed"
    assert str(event["customer_id"]) == cid
    assert event["basis"] == f"document:{body['id']}"
    assert event["fields"] in ([], None)


async def test_employee_may_upload_too(
    upload: Upload, staff: Issued, make_customer: MakeCustomer
) -> None:
    r = await upload(staff, await make_customer(), kind="receipt")
    assert r.status_code == 201, r.text


async def test_retention_years_are_configuration(
    settings: Any, app: Any, upload: Upload, shop: Issued, make_customer: MakeCustomer
) -> None:
    settings.retention_years_invoice = 5
    settings.retention_years_other = 2
    cid = await make_customer()
    now = utcnow()
    r = await upload(shop, cid, kind="invoice")
    assert datetime.fromisoformat(r.json()["retain_until"]) == end_of_vietnamese_year_plus(5, now)
    r = await upload(shop, cid, kind="other")
    assert datetime.fromisoformat(r.json()["retain_until"]) == end_of_vietnamese_year_plus(2, now)


def test_retention_counts_from_the_end_of_the_vietnamese_year() -> None:
    """A document stored on 31 December at 20:00 UTC is already in the next Vietnamese year."""
    from pdvault.config import Settings
    from pdvault.documents.schemas import DocumentKind
    from pdvault.documents.service import retain_until

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    late = datetime(2026, 12, 31, 20, 0, tzinfo=UTC)
    assert retain_until(settings, DocumentKind.INVOICE, late) == datetime(2038, 1, 1, tzinfo=ICT)
    early = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert retain_until(settings, DocumentKind.RECEIPT, early) == datetime(2037, 1, 1, tzinfo=ICT)
    assert retain_until(settings, DocumentKind.OTHER, early) is None


async def test_unknown_customer_is_404_and_logged(app: Any, upload: Upload, shop: Issued) -> None:
    cid = str(uuid.uuid4())
    assert_problem(await upload(shop, cid), 404)
    events = await document_events(app, action="document.upload")
    assert [(e["outcome"], e["reason"], str(e["customer_id"])) for e in events] == [
        ("denied", "not_found", cid)
    ]


async def test_erased_customer_takes_no_new_document(
    app: Any, upload: Upload, shop: Issued, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(Customer).where(Customer.id == uuid.UUID(cid)).values(erased_at=utcnow())
        )
        await session.commit()
    assert_problem(await upload(shop, cid), 410)
    events = await document_events(app, action="document.upload")
    assert [(e["outcome"], e["reason"]) for e in events] == [("denied", "erased")]


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        ({"kind": "bill", "order_ref": "DH-1"}, "kind"),
        ({"kind": "invoice", "order_ref": "Nguyễn Văn Mẫu"}, "order_ref"),
        ({"kind": "invoice", "order_ref": "khach.mau@example.com"}, "order_ref"),
        ({"kind": "invoice", "order_ref": "DH 0001"}, "order_ref"),
        ({"kind": "invoice", "order_ref": "A" * 101}, "order_ref"),
        ({"kind": "invoice", "order_ref": ""}, "order_ref"),
        ({"kind": "invoice"}, "order_ref"),
        ({"order_ref": "DH-1"}, "kind"),
    ],
)
async def test_invalid_fields_are_422(
    client: httpx.AsyncClient,
    shop: Issued,
    make_customer: MakeCustomer,
    data: dict[str, str],
    loc: str,
) -> None:
    cid = await make_customer()
    r = await client.post(
        f"/v1/customers/{cid}/documents",
        files={"file": ("a.pdf", PDF, "application/pdf")},
        data=data,
        headers=shop.headers,
    )
    body = assert_problem(r, 422, errors=True)
    assert ["body", loc] in [e["loc"] for e in body["errors"]], body
    assert "Nguyễn" not in r.text
    assert "example.com" not in r.text


async def test_missing_or_empty_file_is_422(
    client: httpx.AsyncClient, upload: Upload, shop: Issued, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    body = assert_problem(await upload(shop, cid, b""), 422, errors=True)
    assert body["errors"][0]["loc"] == ["body", "file"]
    r = await client.post(
        f"/v1/customers/{cid}/documents",
        files={"other": ("a.pdf", PDF, "application/pdf")},
        data={"kind": "invoice", "order_ref": "DH-1"},
        headers=shop.headers,
    )
    assert_problem(r, 422, errors=True)
    r = await client.post(
        f"/v1/customers/{cid}/documents",
        data={"kind": "invoice", "order_ref": "DH-1"},  # urlencoded, not multipart
        headers=shop.headers,
    )
    assert_problem(r, 415)


async def test_two_files_are_refused(
    client: httpx.AsyncClient, shop: Issued, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    r = await client.post(
        f"/v1/customers/{cid}/documents",
        files=[("file", ("a.pdf", PDF, "application/pdf")), ("file", ("b.pdf", PDF, "x/y"))],
        data={"kind": "invoice", "order_ref": "DH-1"},
        headers=shop.headers,
    )
    assert_problem(r, 422, errors=True)


async def test_malformed_multipart_is_422(
    client: httpx.AsyncClient, shop: Issued, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    r = await client.post(
        f"/v1/customers/{cid}/documents",
        content=b'--xyz\r\nContent-Disposition: form-data; name="kind"\r\n\r\ninvoice\r\n--nope',
        headers={**shop.headers, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert_problem(r, 422)
