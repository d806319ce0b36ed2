"""GET /v1/customers/{id}/documents/{doc_id}?purpose=P: the policy engine decides, every
answer is logged, and the bytes leave only after their event is committed."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import insert

from pdvault.customers.models import Consent
from pdvault.db import new_id, utcnow
from tests.conftest import Issued, TokenFactory
from tests.documents.conftest import MARKER, PDF, Download, Upload, document_events
from tests.helpers import assert_problem

MakeCustomer = Callable[..., Awaitable[str]]


async def stored(upload: Upload, shop: Issued, cid: str, data: bytes = PDF, **kw: Any) -> str:
    r = await upload(shop, cid, data, **kw)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def read_events(app: Any) -> list[tuple[str, str | None, str | None, str | None]]:
    return [
        (e["outcome"], e["reason"], e["purpose"], e["basis"])
        for e in await document_events(app, action="document.read")
    ]


async def test_accounting_reads_the_original_bytes(
    app: Any,
    upload: Upload,
    download: Download,
    shop: Issued,
    staff: Issued,
    make_customer: MakeCustomer,
) -> None:
    cid = await make_customer()
    doc = await stored(upload, shop, cid)
    r = await download(staff, cid, doc, "accounting")
    assert r.status_code == 200, r.text
    assert r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == f'attachment; filename="{doc}.pdf"'
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert await read_events(app) == [("allowed", None, "accounting", f"document:{doc}")]
    event = (await document_events(app, action="document.read"))[0]
    assert str(event["customer_id"]) == cid
    assert event["role"] == "employee"


async def test_self_service_reads_the_original_bytes(
    app: Any, upload: Upload, download: Download, shop: Issued, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    doc = await stored(upload, shop, cid, kind="contract")
    r = await download(shop, cid, doc, "customer_self_service")
    assert r.status_code == 200, r.text
    assert r.content == PDF
    assert await read_events(app) == [("allowed", None, "customer_self_service", f"document:{doc}")]


@pytest.mark.parametrize(
    ("role", "purpose", "reason"),
    [
        ("employee", "order_confirmation", "purpose_not_permitted"),  # reads fields, not docs
        ("employee", "customer_self_service", "role_not_permitted"),
        ("employee", None, "purpose_not_permitted"),
        ("employee", "tax_audit", "purpose_not_permitted"),
        ("storefront", "accounting", "role_not_permitted"),
        ("storefront", "marketing", "purpose_not_permitted"),
    ],
)
async def test_purposes_outside_the_table_are_refused_and_logged(
    app: Any,
    upload: Upload,
    download: Download,
    shop: Issued,
    issue: TokenFactory,
    make_customer: MakeCustomer,
    role: str,
    purpose: str | None,
    reason: str,
) -> None:
    cid = await make_customer()
    doc = await stored(upload, shop, cid)
    caller = shop if role == "storefront" else await issue(role)
    r = await download(caller, cid, doc, purpose)
    assert_problem(r, 403, reason)
    assert MARKER not in r.content
    logged_purpose = purpose if purpose in {"order_confirmation", "accounting", "marketing",
                                            "customer_self_service"} else None  # fmt: skip
    assert await read_events(app) == [("denied", reason, logged_purpose, None)]


@pytest.mark.parametrize("role", ["dpo", "admin", "auditor", "legal"])
async def test_roles_outside_the_endpoint_are_refused_and_logged(
    app: Any,
    upload: Upload,
    download: Download,
    shop: Issued,
    issue: TokenFactory,
    make_customer: MakeCustomer,
    role: str,
) -> None:
    cid = await make_customer()
    doc = await stored(upload, shop, cid)
    r = await download(await issue(role), cid, doc, "accounting")
    assert_problem(r, 403, "role_not_permitted")
    events = await read_events(app)
    assert events == [("denied", "role_not_permitted", "accounting", None)]


async def test_unknown_customer_or_document_is_404(
    app: Any,
    upload: Upload,
    download: Download,
    shop: Issued,
    staff: Issued,
    make_customer: MakeCustomer,
) -> None:
    cid, other = await make_customer(), await make_customer()
    doc = await stored(upload, shop, cid)
    theirs = await stored(upload, shop, other)
    assert_problem(await download(staff, str(uuid.uuid4()), doc, "accounting"), 404)
    assert_problem(await download(staff, cid, str(uuid.uuid4()), "accounting"), 404)
    r = await download(staff, cid, theirs, "accounting")  # another customer's document
    assert_problem(r, 404)
    assert MARKER not in r.content
    assert [e[:2] for e in await read_events(app)] == [("denied", "not_found")] * 3


async def test_withdrawn_processing_consent_leaves_self_service_only(
    app: Any,
    upload: Upload,
    download: Download,
    shop: Issued,
    staff: Issued,
    make_customer: MakeCustomer,
) -> None:
    """As the rule table says: accounting is not a legal purpose (R7.1), self-service is."""
    cid = await make_customer()
    doc = await stored(upload, shop, cid)
    async with app.state.runtime.sessions() as session:
        await session.execute(
            insert(Consent),
            [
                {
                    "id": new_id(),
                    "customer_id": uuid.UUID(cid),
                    "kind": "processing",
                    "granted": False,
                    "source": "storefront",
                    "policy_version": "2024-01",
                    "recorded_at": utcnow(),
                    "recorded_by": None,
                }
            ],
        )
        await session.commit()
    assert_problem(await download(staff, cid, doc, "accounting"), 403, "consent_withdrawn")
    r = await download(shop, cid, doc, "customer_self_service")
    assert r.status_code == 200, r.text
    assert await read_events(app) == [
        ("denied", "consent_withdrawn", "accounting", f"document:{doc}"),
        ("allowed", None, "customer_self_service", f"document:{doc}"),
    ]


async def test_the_event_is_committed_before_the_bytes_leave(
    app: Any,
    upload: Upload,
    download: Download,
    shop: Issued,
    staff: Issued,
    make_customer: MakeCustomer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A commit that fails answers 503 and no byte of the document."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.ext.asyncio import AsyncSession

    from pdvault.documents.service import DocumentService

    cid = await make_customer()
    doc = await stored(upload, shop, cid)
    real_commit, real_read = AsyncSession.commit, DocumentService.read
    state = {"read_done": False, "failed": 0}

    async def read(self: DocumentService, *args: Any) -> Any:
        result = await real_read(self, *args)
        state["read_done"] = True  # the bytes are decrypted, the event is pending
        return result

    async def commit(self: AsyncSession) -> None:
        if state["read_done"]:
            state["failed"] += 1
            raise OperationalError("COMMIT", {}, Exception("disk full"))
        await real_commit(self)

    monkeypatch.setattr(DocumentService, "read", read)
    monkeypatch.setattr(AsyncSession, "commit", commit)
    r = await download(staff, cid, doc, "accounting")
    monkeypatch.setattr(AsyncSession, "commit", real_commit)
    assert state["failed"] == 1
    assert_problem(r, 503)
    assert MARKER not in r.content
    assert await read_events(app) == []
