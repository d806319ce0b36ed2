"""Transaction documents: storing, listing, reading for a purpose, and shredding (R7.3).

Every request path records its access event; the router commits. Functions the erasure and
the retention sweep call never commit either: their caller ends the unit of work.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.writer import ALLOWED, AuditLog, EventDraft
from pdvault.auth.principal import Actor
from pdvault.config import Settings
from pdvault.crypto.envelope import new_data_key
from pdvault.customers.access import AuditedAccess, denial_reason
from pdvault.customers.facts import load_facts
from pdvault.customers.models import Customer
from pdvault.db import new_id, utcnow
from pdvault.documents.form import UnsupportedMediaType, UploadForm
from pdvault.documents.models import Document
from pdvault.documents.schemas import (
    ORDER_REF_PATTERN,
    DocumentKind,
    DocumentOut,
    DocumentPage,
)
from pdvault.documents.sealing import read_plaintext, seal_document
from pdvault.documents.sniff import sniff
from pdvault.errors import Gone, NotFound, Problem, Unprocessable
from pdvault.judicial.service import DEFAULT_UNAPPROVED_HOLD_DAYS, customers_on_legal_hold
from pdvault.pagination import split_page, uuid_after
from pdvault.policy import Access, Denial, Operation, Reason, authorize, decide
from pdvault.policy.explain import purpose_refusal
from pdvault.runtime import Runtime

SHRED_ACTION = "document.shred"
# Vietnamese accounting law counts retention from the end of the accounting year; the year
# is the calendar year in Vietnam's time (UTC+7, no daylight saving).
VIETNAM = timezone(timedelta(hours=7), "ICT")


def retention_years(settings: Settings, kind: DocumentKind) -> int:
    return {
        DocumentKind.INVOICE: settings.retention_years_invoice,
        DocumentKind.RECEIPT: settings.retention_years_receipt,
        DocumentKind.CONTRACT: settings.retention_years_contract,
        DocumentKind.OTHER: settings.retention_years_other,
    }[kind]


def retain_until(settings: Settings, kind: DocumentKind, created_at: datetime) -> datetime | None:
    """End of the accounting year of ``created_at`` plus the kind's years; None for 0 years."""
    years = retention_years(settings, kind)
    if years == 0:
        return None
    year = created_at.astimezone(VIETNAM).year
    return datetime(year + 1 + years, 1, 1, tzinfo=VIETNAM).astimezone(UTC)


def document_out(doc: Document) -> DocumentOut:
    return DocumentOut(
        id=doc.id,
        customer_id=doc.customer_id,
        kind=DocumentKind(doc.kind),
        order_ref=doc.order_ref,
        content_type=doc.content_type,
        size=doc.size,
        created_at=doc.created_at,
        retain_until=doc.retain_until,
        shredded_at=doc.shredded_at,
    )


def _kind_of(raw: str) -> DocumentKind:
    try:
        return DocumentKind(raw)
    except ValueError:
        raise Unprocessable(
            "kind must be one of invoice, receipt, contract, other.",
            errors=[{"loc": ["body", "kind"], "msg": "unknown document kind"}],
        ) from None


def _order_ref_of(raw: str) -> str:
    if ORDER_REF_PATTERN.fullmatch(raw) is None:
        raise Unprocessable(
            "order_ref is a reference: 1-100 letters, digits, '.', '_', '/' or '-'.",
            errors=[{"loc": ["body", "order_ref"], "msg": "not a reference"}],
        )
    return raw


class DocumentService:
    def __init__(self, runtime: Runtime, session: AsyncSession, actor: Actor) -> None:
        self.runtime = runtime
        self.session = session
        self.actor = actor

    async def _refuse(
        self,
        action: str,
        reason: str,
        customer_id: uuid.UUID,
        *,
        purpose: str | None = None,
        basis: str | None = None,
        problem: Problem | None = None,
    ) -> Problem:
        return await self.runtime.audit.denied(
            self.session,
            self.actor,
            EventDraft.refusal(
                action, reason, customer_id=customer_id, purpose=purpose, basis=basis
            ),
            problem=problem,
        )

    async def _customer(
        self, action: str, customer_id: uuid.UUID, purpose: str | None = None, lock: bool = False
    ) -> Customer:
        query = select(Customer).where(Customer.id == customer_id)
        if lock:
            # An erasure running at the same time either finishes first (we see erased_at) or
            # waits for this upload, then shreds what it added. SQLite: BEGIN IMMEDIATE.
            query = query.with_for_update()
        customer = await self.session.scalar(query)
        if customer is None:
            raise await self._refuse(
                action,
                "not_found",
                customer_id,
                purpose=purpose,
                problem=NotFound("No such customer."),
            )
        return customer

    # -- upload -----------------------------------------------------------------------------

    async def upload(self, customer_id: uuid.UUID, form: UploadForm) -> DocumentOut:
        action = Operation.DOCUMENT_UPLOAD.value
        kind, order_ref = _kind_of(form.kind), _order_ref_of(form.order_ref)
        customer = await self._customer(action, customer_id, lock=True)
        if customer.erased_at is not None:
            raise await self._refuse(
                action,
                "erased",
                customer_id,
                problem=Gone("This customer has been erased; no document can be added."),
            )
        sniffed = sniff(form.file)
        if sniffed is None:
            raise await self._refuse(
                action,
                "unsupported_media_type",
                customer_id,
                problem=UnsupportedMediaType(
                    "Accepted documents: PDF, PNG, JPEG, GIF, WebP, TIFF, XML, UTF-8 text "
                    "(the type is read from the bytes)."
                ),
            )
        document_id = new_id()
        data_key = new_data_key()
        wrapped = await self.runtime.keys.wrap_data_key(data_key, document_id)
        now = utcnow()
        row: dict[str, Any] = {
            "id": document_id,
            "customer_id": customer_id,
            "kind": kind.value,
            "order_ref": order_ref,
            "content_type": sniffed.content_type,
            "size": len(form.file),
            "created_at": now,
            "created_by": self.actor.principal_id,
            "retain_until": retain_until(self.runtime.settings, kind, now),
            "shredded_at": None,
            "kek_version": wrapped.version,
            "wrapped_dek": wrapped.blob,
            "ciphertext": seal_document(
                data_key, document_id, customer_id, sniffed.content_type, form.file
            ),
        }
        await self.session.execute(insert(Document), [row])
        await self.runtime.audit.append(
            self.session,
            self.actor,
            EventDraft(
                action=action,
                outcome=ALLOWED,
                customer_id=customer_id,
                basis=f"document:{document_id}",
            ),
        )
        return DocumentOut(**{k: v for k, v in row.items() if k in DocumentOut.model_fields})

    # -- list -------------------------------------------------------------------------------

    async def list_page(
        self, customer_id: uuid.UUID, limit: int, cursor: str | None
    ) -> DocumentPage:
        action = Operation.DOCUMENT_LIST.value
        after = uuid_after(cursor)
        await self._customer(action, customer_id)
        query = select(Document).where(Document.customer_id == customer_id)
        if after is not None:
            query = query.where(Document.id > after)
        fetched = (await self.session.scalars(query.order_by(Document.id).limit(limit + 1))).all()
        rows, next_cursor = split_page(fetched, limit, lambda d: d.id)
        await self.runtime.audit.append(
            self.session,
            self.actor,
            EventDraft(action=action, outcome=ALLOWED, customer_id=customer_id),
        )
        return DocumentPage(items=[document_out(d) for d in rows], next_cursor=next_cursor)

    # -- read -------------------------------------------------------------------------------

    async def read(
        self, customer_id: uuid.UUID, document_id: uuid.UUID, purpose: str | None
    ) -> tuple[Document, bytes]:
        action = Operation.DOCUMENT_READ.value
        permit = authorize(self.actor.role, purpose, None, Access.DOCUMENTS)
        if isinstance(permit, Denial):
            raise await self._refuse(
                action,
                permit.reason.value,
                customer_id,
                purpose=purpose,
                problem=purpose_refusal(self.actor.role, purpose, Access.DOCUMENTS)
                if permit.reason is Reason.PURPOSE_NOT_PERMITTED
                else None,
            )
        await self._customer(action, customer_id, purpose)
        doc = await self._live_document(action, customer_id, document_id, purpose)
        basis = f"document:{doc.id}"
        decision = decide(permit, await load_facts(self.session, customer_id, permit))
        if not decision.allowed:
            reason = denial_reason(decision)
            raise await self._refuse(action, reason, customer_id, purpose=purpose, basis=basis)
        # The bytes are fetched only once the answer is yes: a refusal never loads 20 MiB.
        blob = await self.session.scalar(select(Document.ciphertext).where(Document.id == doc.id))
        data = await AuditedAccess(self.runtime, self.session, self.actor).decrypted(
            action,
            read_plaintext(self.runtime.keys, doc, blob),
            customer_id=customer_id,
            purpose=purpose,
            basis=basis,
            what="The stored document",
        )
        await self.runtime.audit.append(
            self.session,
            self.actor,
            EventDraft(
                action=action,
                outcome=ALLOWED,
                customer_id=customer_id,
                purpose=decision.purpose,
                basis=basis,
            ),
        )
        return doc, data

    async def _live_document(
        self, action: str, customer_id: uuid.UUID, document_id: uuid.UUID, purpose: str | None
    ) -> Document:
        """The customer's document, not shredded; else a refusal in the log (404 / 410)."""
        doc = await self.session.get(Document, document_id)
        if doc is None or doc.customer_id != customer_id:
            # Another customer's document answers like a missing one.
            raise await self._refuse(
                action,
                "not_found",
                customer_id,
                purpose=purpose,
                problem=NotFound("No such document."),
            )
        if doc.shredded_at is not None:
            raise await self._refuse(
                action,
                "shredded",
                customer_id,
                purpose=purpose,
                basis=f"document:{doc.id}",
                problem=Gone("This document's retention ended; its key and bytes were destroyed."),
            )
        return doc


# -- for the export, the erasure and the retention sweep -----------------------------------


async def documents_metadata(session: AsyncSession, customer_id: uuid.UUID) -> list[DocumentOut]:
    """Every document's metadata (shredded ones too), oldest first; for the export."""
    rows = await session.scalars(
        select(Document).where(Document.customer_id == customer_id).order_by(Document.id)
    )
    return [document_out(d) for d in rows]


async def _shred(
    session: AsyncSession, now: datetime, *where: Any
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Destroy key and bytes of the matching live documents; (document id, customer id) each."""
    result = await session.execute(
        update(Document)
        .where(Document.shredded_at.is_(None), *where)
        .values(kek_version=None, wrapped_dek=None, ciphertext=None, shredded_at=now)
        .returning(Document.id, Document.customer_id)
        .execution_options(synchronize_session=False)
    )
    return [(row[0], row[1]) for row in result]


async def shred_unretained_documents(
    session: AsyncSession, customer_id: uuid.UUID, now: datetime
) -> int:
    """For the erasure, in its transaction: shred the customer's documents with no retention
    left (none, or ended). Documents still under retention stay; they hold no personal field.
    The erasure's own access event covers these; none is written per document here."""
    shredded = await _shred(
        session,
        now,
        Document.customer_id == customer_id,
        or_(Document.retain_until.is_(None), Document.retain_until <= now),
    )
    return len(shredded)


async def sweep_expired(
    session: AsyncSession,
    now: datetime,
    batch: int = 500,
    *,
    audit: AuditLog,
    after_batch: Callable[[], Awaitable[None]] | None = None,
    unapproved_hold_days: int = DEFAULT_UNAPPROVED_HOLD_DAYS,
) -> int:
    """Shred every document whose retention ended by ``now``, ``batch`` at a time, each one
    logged (``document.shred``, no actor: the system). A customer on legal hold keeps them
    until the hold ends. ``after_batch`` (e.g. the session's commit) ends each batch's unit of
    work, so a long sweep holds no lock for long and resumes where it stopped."""
    total = 0
    after: uuid.UUID | None = None
    while True:
        query = select(Document.id, Document.customer_id).where(
            Document.shredded_at.is_(None),
            Document.retain_until.is_not(None),
            Document.retain_until <= now,
        )
        if after is not None:
            query = query.where(Document.id > after)
        rows: Sequence[Any] = (
            await session.execute(query.order_by(Document.id).limit(batch))
        ).all()
        if not rows:
            break
        after = rows[-1][0]
        held = await customers_on_legal_hold(
            session, {row[1] for row in rows}, now, unapproved_hold_days=unapproved_hold_days
        )
        ids = [row[0] for row in rows if row[1] not in held]
        if ids:
            shredded = await _shred(session, now, Document.id.in_(ids))
            await audit.append(
                session,
                None,
                *(
                    EventDraft(
                        action=SHRED_ACTION,
                        outcome=ALLOWED,
                        customer_id=cid,
                        basis=f"document:{did}",
                    )
                    for did, cid in shredded
                ),
            )
            total += len(shredded)
        if after_batch is not None:
            await after_batch()
        if len(rows) < batch:
            break
    return total
