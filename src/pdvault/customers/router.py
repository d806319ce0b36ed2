"""HTTP endpoints for customers (docs/api.md "Customers")."""

from __future__ import annotations

import json
import re
import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.auth.principal import Actor
from pdvault.customers.registration import CustomerRegistration
from pdvault.customers.schemas import (
    FAKE_CUSTOMER,
    BatchIn,
    BatchOut,
    CustomerCreated,
    CustomerIn,
    CustomerOut,
    CustomerPatch,
    SearchIn,
    SearchOut,
)
from pdvault.customers.search import CustomerSearch
from pdvault.customers.service import CustomerService
from pdvault.deps import (
    HotCall,
    RuntimeDep,
    SessionDep,
    hot_call,
    hot_response,
    items_checked_alone,
    read_route,
    require,
)
from pdvault.errors import BadRequest, Conflict, PreconditionRequired, Unprocessable
from pdvault.idempotency import IdempotentCall
from pdvault.openapi_docs import problems, purpose_schema
from pdvault.policy import ALL_FIELDS, Access, Operation

router = APIRouter(prefix="/v1/customers", tags=["customers"])

# Parsed by the hot route's one dependency (``deps.hot_call``); declared here so the route
# documents the header as it always did.
JustificationHeader = Annotated[
    str | None,
    Header(description="Why (special_case_support): percent-encoded UTF-8, 10+ characters"),
]


def parse_fields(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    names = [part.strip() for part in raw.split(",")]
    bad = [n for n in names if n not in ALL_FIELDS]
    if not names or bad:
        raise Unprocessable(
            "fields must be a comma-separated subset of full_name, phone, email, address.",
            errors=[{"loc": ["query", "fields"], "msg": "unknown field name"}],
        )
    return list(dict.fromkeys(names))


# One entity-tag of If-Match: "opaque", W/"opaque" (weak: never matches, RFC 9110 13.1.1), or
# the same opaque text without its quotes, which clients send by hand (``If-Match: 1``).
_ENTITY_TAG = re.compile(r'(?:W/)?"[^"]*"|\*')
_BARE_TAG = re.compile(r'[^"\s,]+')
IF_MATCH_HOWTO = (
    "If-Match takes the ETag of your last read as the ETag header gave it, in double quotes "
    '(If-Match: "1"), several separated by commas, or *.'
)


def parse_if_match(raw: str | None) -> list[str]:
    """The entity-tags of If-Match; an unquoted one is taken as quoted (``1`` as ``"1"``).

    428 when absent; 400 saying how to quote when a part is neither form (a stray quote, two
    tags without a comma), rather than a 412 claiming the customer changed.
    """
    if raw is None or not raw.strip():
        raise PreconditionRequired("PATCH needs If-Match with the ETag of your last read.")
    tags = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        if _ENTITY_TAG.fullmatch(part):
            tags.append(part)
        elif _BARE_TAG.fullmatch(part):
            tags.append(f'"{part}"')
        else:
            raise BadRequest(IF_MATCH_HOWTO)
    if not tags:
        raise BadRequest(IF_MATCH_HOWTO)
    return tags


_WHY = "Why the data is read; GET /v1/policy lists who may use which (missing: 403)"
ReadPurpose = Annotated[
    str | None,
    purpose_schema(Operation.CUSTOMER_READ, Access.READ, _WHY),
    Query(description=_WHY),
]
WritePurpose = Annotated[
    str | None,
    purpose_schema(Operation.CUSTOMER_UPDATE, Access.WRITE, _WHY),
    Query(description=_WHY),
]
Fields = Annotated[str | None, Query(description="Comma-separated subset of the purpose's fields")]


@router.post(
    "",
    status_code=201,
    response_model=CustomerCreated,
    summary="Register a customer (storefront, employee)",
    responses=problems(401, 403, 409, 413, 422, 503),
)
async def create_customer(
    request: Request,
    body: Annotated[CustomerIn, Body(examples=[FAKE_CUSTOMER])],
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.CUSTOMER_CREATE))],
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Any:
    call = IdempotentCall(runtime, session, actor, "customer.create", idempotency_key)
    canonical = body.model_dump_json().encode()
    replay = await call.replay(canonical)
    if replay is not None:
        return replay
    try:
        created = await CustomerRegistration(runtime, session, actor).create(body)
    except Conflict:
        # A concurrent request under the same key won the race: answer as it did.
        replay = await call.replay(canonical)
        if replay is not None:
            return replay
        raise
    return await _commit(session, call.stage(201, created.model_dump(mode="json")), call)


@router.post(
    "/batch",
    response_model=BatchOut,
    summary="Register up to 1000 customers; one bad item fails only itself",
    responses=problems(401, 403, 413, 422, 503),
)
@items_checked_alone
async def create_batch(
    body: BatchIn,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.CUSTOMER_BATCH))],
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Any:
    limit = runtime.settings.batch_max_items
    if len(body.items) > limit:
        raise Unprocessable(
            f"A batch holds at most {limit} items.",
            errors=[{"loc": ["body", "items"], "msg": f"at most {limit} items"}],
        )
    call = IdempotentCall(runtime, session, actor, "customer.batch", idempotency_key)
    replay = await call.replay(batch_fingerprint_body(body.items))
    if replay is not None:
        return replay
    results = await CustomerRegistration(runtime, session, actor).create_batch(body.items)
    payload = {"results": [r.model_dump(mode="json", exclude_none=True) for r in results]}
    return await _commit(session, call.stage(200, payload), call)


async def _commit(session: AsyncSession, response: Response, call: IdempotentCall) -> Response:
    """The route ends the unit of work: the work and its remembered response commit together.
    Another request with the same key that committed first makes this one answer as it did."""
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        stored = await call.raced()
        if stored is None:
            raise
        return stored
    return response


def batch_fingerprint_body(items: list[Any]) -> bytes:
    """The items in one canonical form, for the Idempotency-Key fingerprint. The items are
    still raw JSON here (each is validated on its own later), and orjson refuses some of what
    JSON allows: a lone surrogate (``"\\udbce"``) or an integer past 64 bits. Those bodies take
    the standard library's ASCII-escaped form instead; well-formed ones keep orjson's, so the
    fingerprints already stored stay valid."""
    try:
        return orjson.dumps(items, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return json.dumps(items, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode()


@router.post(
    "/search",
    response_model=SearchOut,
    summary="Find customers by email or phone (POST: no personal data in URLs)",
    responses=problems(401, 403, 413, 422, 503),
)
@read_route
async def search_customers(
    body: SearchIn,
    call: Annotated[
        HotCall, Depends(hot_call(Operation.CUSTOMER_SEARCH, justified=True), scope="function")
    ],
    x_justification: JustificationHeader = None,  # parsed by hot_call: call.justification
) -> Response:
    search = CustomerSearch(call.runtime, call.session, call.actor)
    hits = await search.search(body, call.justification)
    await call.session.commit()
    return hot_response({"items": hits})


@router.get(
    "/{customer_id}",
    response_model=CustomerOut,
    summary="Read a customer for a stated purpose (employee, storefront, dpo)",
    responses=problems(401, 403, 404, 410, 422, 503),
)
@read_route
async def read_customer(
    customer_id: uuid.UUID,
    call: Annotated[
        HotCall, Depends(hot_call(Operation.CUSTOMER_READ, justified=True), scope="function")
    ],
    x_justification: JustificationHeader = None,  # parsed by hot_call: call.justification
    purpose: ReadPurpose = None,
    fields: Fields = None,
) -> Response:
    service = CustomerService(call.runtime, call.session, call.actor)
    out, etag = await service.read(customer_id, purpose, parse_fields(fields), call.justification)
    await call.session.commit()
    return hot_response(out, {"ETag": etag, "Cache-Control": "no-store"})


@router.patch(
    "/{customer_id}",
    response_model=CustomerOut,
    summary="Correct a customer's fields (storefront self-service, dpo on a request)",
    responses=problems(400, 401, 403, 404, 409, 410, 412, 422, 428, 503),
)
async def update_customer(
    customer_id: uuid.UUID,
    body: CustomerPatch,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.CUSTOMER_UPDATE))],
    purpose: WritePurpose = None,
    if_match: Annotated[str | None, Header()] = None,
) -> CustomerOut:
    tags = parse_if_match(if_match)
    service = CustomerService(runtime, session, actor)
    out, etag = await service.update(customer_id, purpose, body, tags)
    await session.commit()
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-store"
    return out
