"""Data-subject rights on a customer: consents and the export (docs/api.md "Customers")."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Response

from pdvault import export
from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.customers.access import AuditedAccess
from pdvault.deps import RuntimeDep, SessionDep, require
from pdvault.openapi_docs import problems, purpose_schema
from pdvault.policy import Access, Operation, default_purpose
from pdvault.subjects import consents
from pdvault.subjects.schemas import (
    FAKE_CONSENT_IN,
    ConsentIn,
    ConsentRecorded,
    ConsentsOut,
    Export,
)

router = APIRouter(prefix="/v1/customers", tags=["data-subject rights"])

_EXPORT_WHY = "Another purpose the role holds (default: the role's own); GET /v1/policy"


@router.get(
    "/{customer_id}/consents",
    response_model=ConsentsOut,
    summary="Current consent state and its full history (storefront, dpo, employee)",
    responses=problems(401, 403, 404, 410, 422, 503),
)
async def read_consents(
    customer_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.CONSENT_READ))],
) -> ConsentsOut:
    action = Operation.CONSENT_READ.value
    await AuditedAccess(runtime, session, actor).live_customer(action, customer_id)
    out = await consents.consent_history(session, customer_id)
    await runtime.audit.append(
        session, actor, EventDraft(action=action, outcome=ALLOWED, customer_id=customer_id)
    )
    await session.commit()
    return out


@router.post(
    "/{customer_id}/consents",
    status_code=201,
    response_model=ConsentRecorded,
    summary="Record a consent given or withdrawn; history is append-only (storefront, dpo)",
    responses=problems(401, 403, 404, 410, 422, 503),
)
async def record_consent(
    customer_id: uuid.UUID,
    body: Annotated[ConsentIn, Body(examples=[FAKE_CONSENT_IN])],
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.CONSENT_RECORD))],
) -> ConsentRecorded:
    action = Operation.CONSENT_RECORD.value
    await AuditedAccess(runtime, session, actor).live_customer(action, customer_id)
    entry, current = await consents.record_consent(session, customer_id, body, actor.principal_id)
    await runtime.audit.append(
        session,
        actor,
        EventDraft(
            action=action,
            outcome=ALLOWED,
            customer_id=customer_id,
            basis=f"consent:{body.kind}:{'granted' if body.granted else 'withdrawn'}",
        ),
    )
    await session.commit()
    return ConsentRecorded(**entry.model_dump(), current=current)


@router.get(
    "/{customer_id}/export",
    response_model=Export,
    summary="Everything held about the person, in one document (storefront, dpo)",
    description=(
        "The storefront exports under `customer_self_service`; the dpo under "
        "`data_subject_request`, so only while a request on this customer is open. "
        "`purpose` may name another purpose the role holds; the policy decides."
    ),
    responses=problems(401, 403, 404, 410, 422, 503),
)
async def export_customer(
    customer_id: uuid.UUID,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.CUSTOMER_EXPORT))],
    purpose: Annotated[
        str | None,
        purpose_schema(Operation.CUSTOMER_EXPORT, Access.READ, _EXPORT_WHY),
        Query(max_length=64, description=_EXPORT_WHY),
    ] = None,
) -> Export:
    chosen = purpose or default_purpose(Operation.CUSTOMER_EXPORT, actor.role)
    out = await export.export_customer(runtime, session, actor, customer_id, chosen)
    await session.commit()
    response.headers["Cache-Control"] = "no-store"
    return out
