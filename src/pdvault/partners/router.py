"""HTTP endpoints for partners (docs/api.md "Partners")."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from pdvault.auth.principal import Actor
from pdvault.customers.router import parse_fields
from pdvault.deps import (
    HotCall,
    RuntimeDep,
    SessionDep,
    hot_call,
    hot_response,
    read_route,
    require,
)
from pdvault.openapi_docs import problems, purpose_schema
from pdvault.pagination import Cursor, Limit
from pdvault.partners.schemas import (
    AssignmentIn,
    AssignmentOut,
    AssignmentPage,
    GrantIn,
    GrantOut,
    GrantPage,
    PartnerCustomerOut,
    PartnerIn,
    PartnerOut,
    PartnerPage,
)
from pdvault.partners.service import PartnerService
from pdvault.policy import Access, Operation

router = APIRouter(tags=["partners"])


@router.post(
    "/v1/partners",
    status_code=201,
    response_model=PartnerOut,
    summary="Register a contracted partner (admin)",
    responses=problems(401, 403, 409, 422, 503),
)
async def create_partner(
    body: PartnerIn,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.PARTNER_CREATE))],
) -> PartnerOut:
    out = await PartnerService(runtime, session, actor).create_partner(body)
    await session.commit()
    return out


@router.get(
    "/v1/partners",
    response_model=PartnerPage,
    summary="List partners (admin)",
    responses=problems(401, 403, 422, 503),
)
async def list_partners(
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.PARTNER_LIST))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PartnerPage:
    return await PartnerService(runtime, session, actor).list_partners(limit, cursor)


@router.post(
    "/v1/partners/{partner_id}/grants",
    status_code=201,
    response_model=GrantOut,
    summary="Grant a partner fields (plain or masked) for purposes and a window (admin)",
    responses=problems(401, 403, 404, 422, 503),
)
async def create_grant(
    partner_id: uuid.UUID,
    body: GrantIn,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.GRANT_CREATE))],
) -> GrantOut:
    out = await PartnerService(runtime, session, actor).create_grant(partner_id, body)
    await session.commit()
    return out


@router.get(
    "/v1/partners/{partner_id}/grants",
    response_model=GrantPage,
    summary="A partner's grants (admin)",
    responses=problems(401, 403, 404, 422, 503),
)
async def list_grants(
    partner_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.GRANT_LIST))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> GrantPage:
    return await PartnerService(runtime, session, actor).list_grants(partner_id, limit, cursor)


@router.post(
    "/v1/partners/{partner_id}/grants/{grant_id}/revoke",
    response_model=GrantOut,
    summary="Revoke a grant (admin)",
    responses=problems(401, 403, 404, 422, 503),
)
async def revoke_grant(
    partner_id: uuid.UUID,
    grant_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.GRANT_REVOKE))],
) -> GrantOut:
    out = await PartnerService(runtime, session, actor).revoke_grant(partner_id, grant_id)
    await session.commit()
    return out


@router.post(
    "/v1/partners/{partner_id}/assignments",
    status_code=201,
    response_model=AssignmentOut,
    summary="Assign a customer to a partner for a job (employee, storefront)",
    responses=problems(401, 403, 404, 410, 422, 503),
)
async def create_assignment(
    partner_id: uuid.UUID,
    body: AssignmentIn,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.ASSIGNMENT_CREATE))],
) -> AssignmentOut:
    out = await PartnerService(runtime, session, actor).create_assignment(partner_id, body)
    await session.commit()
    return out


@router.post(
    "/v1/partners/{partner_id}/assignments/{assignment_id}/revoke",
    response_model=AssignmentOut,
    summary="Revoke an assignment (employee, storefront, admin)",
    responses=problems(401, 403, 404, 422, 503),
)
async def revoke_assignment(
    partner_id: uuid.UUID,
    assignment_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.ASSIGNMENT_REVOKE))],
) -> AssignmentOut:
    service = PartnerService(runtime, session, actor)
    out = await service.revoke_assignment(partner_id, assignment_id)
    await session.commit()
    return out


@router.get(
    "/v1/partner/assignments",
    response_model=AssignmentPage,
    summary="The calling partner's own valid assignments (partner)",
    responses=problems(401, 403, 422, 503),
)
async def list_own_assignments(
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.PARTNER_ASSIGNMENTS))],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AssignmentPage:
    page = await PartnerService(runtime, session, actor).own_assignments(limit, cursor)
    await session.commit()
    return page


@router.get(
    "/v1/partner/customers/{customer_id}",
    response_model=PartnerCustomerOut,
    summary="An assigned customer's granted fields, masked where the grant says (partner)",
    responses=problems(401, 403, 404, 410, 422, 503),
)
@read_route
async def partner_read_customer(
    customer_id: uuid.UUID,
    call: Annotated[HotCall, Depends(hot_call(Operation.PARTNER_CUSTOMER_READ), scope="function")],
    purpose: Annotated[
        str | None,
        purpose_schema(Operation.PARTNER_CUSTOMER_READ, Access.READ, "order_fulfillment"),
        Query(description="order_fulfillment"),
    ] = None,
    fields: Annotated[str | None, Query(description="Comma-separated subset")] = None,
) -> Response:
    service = PartnerService(call.runtime, call.session, call.actor)
    out = await service.read_customer(customer_id, purpose, parse_fields(fields))
    await call.session.commit()
    return hot_response(out)
