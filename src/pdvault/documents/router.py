"""HTTP endpoints for transaction documents (docs/api.md "Transaction documents", R7.3)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from pdvault.auth.principal import Actor
from pdvault.deps import RuntimeDep, SessionDep, require, takes_document
from pdvault.documents.form import read_upload
from pdvault.documents.schemas import UPLOAD_BODY_SCHEMA, DocumentOut, DocumentPage
from pdvault.documents.service import DocumentService
from pdvault.documents.sniff import EXTENSION
from pdvault.openapi_docs import problems, purpose_schema
from pdvault.pagination import Cursor, Limit
from pdvault.policy import Access, Operation

_WHY = "accounting (employee) or customer_self_service; GET /v1/policy has the rules"

router = APIRouter(prefix="/v1/customers", tags=["documents"])

_DOCUMENT_BYTES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The original bytes, with the type sniffed at upload",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}} for media in EXTENSION
        },
        "headers": {
            "Content-Disposition": {
                "description": "attachment; filename=<document id><extension>",
                "schema": {"type": "string"},
            },
            "Cache-Control": {"description": "no-store", "schema": {"type": "string"}},
        },
    }
}
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": UPLOAD_BODY_SCHEMA}},
    }
}
_413 = "Body over max_document_bytes (default 20 MiB)"
_415 = "Not multipart/form-data, or a file type outside the accepted list"
_410 = "Customer erased (upload), or document shredded (download)"


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    out = problems(*statuses)
    for status, text in ((410, _410), (413, _413), (415, _415)):
        if status in out:
            out[status]["description"] = text
    return out


@router.post(
    "/{customer_id}/documents",
    status_code=201,
    response_model=DocumentOut,
    summary="Store a transaction document, encrypted under its own key (storefront, employee)",
    description="Multipart `file`, `kind` and `order_ref`. The type is read from the bytes; "
    "the client's filename and content type are ignored. `retain_until` follows the kind.",
    responses=_problems(401, 403, 404, 410, 413, 415, 422, 503),
    openapi_extra=_UPLOAD_BODY,
)
@takes_document
async def upload_document(
    customer_id: uuid.UUID,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.DOCUMENT_UPLOAD))],
) -> DocumentOut:
    # Read only after the gate: a caller who may not upload never has its body parsed.
    form = await read_upload(request.headers.get("content-type"), request.stream())
    out = await DocumentService(runtime, session, actor).upload(customer_id, form)
    await session.commit()
    return out


@router.get(
    "/{customer_id}/documents",
    response_model=DocumentPage,
    summary="List a customer's documents: metadata only (storefront, employee, dpo)",
    responses=_problems(401, 403, 404, 422, 503),
)
async def list_documents(
    customer_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.DOCUMENT_LIST))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DocumentPage:
    page = await DocumentService(runtime, session, actor).list_page(customer_id, limit, cursor)
    await session.commit()
    return page


@router.get(
    "/{customer_id}/documents/{document_id}",
    summary="Download a document's original bytes for accounting (employee) or "
    "self-service (storefront)",
    response_class=Response,
    responses={**_DOCUMENT_BYTES, **_problems(401, 403, 404, 410, 422, 503)},
)
async def download_document(
    customer_id: uuid.UUID,
    document_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.DOCUMENT_READ))],
    purpose: Annotated[
        str | None,
        purpose_schema(Operation.DOCUMENT_READ, Access.DOCUMENTS, _WHY),
        Query(description=_WHY),
    ] = None,
) -> Response:
    doc, data = await DocumentService(runtime, session, actor).read(
        customer_id, document_id, purpose
    )
    await session.commit()  # the event is durable before a byte leaves
    filename = f"{doc.id}{EXTENSION.get(doc.content_type, '')}"
    return Response(
        content=data,
        media_type=doc.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
