"""Loading the facts a policy decision needs, and only those (one query per condition).

Later capabilities (partner grants, judicial requests, complaints, the notice outbox) add
their loaders here; routers and the policy engine stay as they are.
"""

from __future__ import annotations

import uuid
from typing import cast

from sqlalchemy import Label, RowMapping, Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.customers.models import Consent, Customer
from pdvault.erasure.models import DeletionRequest
from pdvault.governance.models import CASE_OPEN, Complaint
from pdvault.notifications.service import has_pending_notice
from pdvault.policy import Condition, Facts, Permit, conditions_needed
from pdvault.subjects.models import PENDING, AccessRequest, RequestColumns


async def current_consents(session: AsyncSession, customer_id: uuid.UUID) -> dict[str, bool]:
    """The latest recorded state of each consent kind (the history is append-only)."""
    rows = await session.execute(
        select(Consent.kind, Consent.granted)
        .where(Consent.customer_id == customer_id)
        .order_by(Consent.recorded_at, Consent.id)
    )
    state: dict[str, bool] = {}
    for kind, granted in rows:
        state[kind] = granted
    return state


CONSENT_KINDS = ("processing", "marketing")


# The customer row and its consent state in one statement: the read paths' one round trip
# for what was a look-up of the row and a query of its consent history (docs/performance.md).
# SQLAlchemy Core, built once, parameters bound at execution (issue 17): run on the session's
# connection, with no ORM compile state, no per-request cache key (a module-level statement
# memoises its own) and no identity map. ``subject_of`` makes the row a transient ``Customer``.
CUSTOMERS = cast(Table, Customer.__table__)
CONSENTS = cast(Table, Consent.__table__)
_CUSTOMER_COLUMNS = tuple(c.name for c in CUSTOMERS.columns)


def _latest_consent(kind: str) -> Label[bool]:
    """The customer's current state of one consent kind (its latest row), in the same
    order as ``current_consents``."""
    return (
        select(CONSENTS.c.granted)
        .where(CONSENTS.c.customer_id == CUSTOMERS.c.id, CONSENTS.c.kind == kind)
        .order_by(CONSENTS.c.recorded_at.desc(), CONSENTS.c.id.desc())
        .limit(1)
        .correlate(CUSTOMERS)
        .scalar_subquery()
        .label(f"consent_{kind}")
    )


SUBJECTS = select(CUSTOMERS, *(_latest_consent(kind) for kind in CONSENT_KINDS))
Subject = tuple[Customer, dict[str, bool]]
SUBJECT_BY_ID = SUBJECTS.where(CUSTOMERS.c.id == bindparam("customer_id"))


def subject_of(values: RowMapping) -> Subject:
    """A row of ``SUBJECTS`` (among other columns, by name): the customer, as the ORM
    would have loaded it but attached to no session, and its current consents."""
    customer = Customer(**{name: values[name] for name in _CUSTOMER_COLUMNS})
    states = (values[f"consent_{kind}"] for kind in CONSENT_KINDS)
    consents = {k: bool(v) for k, v in zip(CONSENT_KINDS, states, strict=True) if v is not None}
    return customer, consents


async def load_subject(session: AsyncSession, customer_id: uuid.UUID) -> Subject | None:
    """The customer (erased or not) with its current consents, or None when there is none."""
    connection = await session.connection()
    row = (await connection.execute(SUBJECT_BY_ID, {"customer_id": customer_id})).first()
    return None if row is None else subject_of(row._mapping)


# What the ``data_subject_request`` condition asks of the request registers.
async def open_request_basis(
    session: AsyncSession, customer_id: uuid.UUID, model: type[RequestColumns], name: str
) -> str | None:
    """The basis an event cites: "deletion_request:<id>", "access_request:<id>"."""
    found = await session.scalar(
        select(model.id)
        .where(model.customer_id == customer_id, model.status == PENDING)
        .order_by(model.id)
        .limit(1)
    )
    return None if found is None else f"{name}:{found}"


async def open_subject_requests(
    session: AsyncSession, customer_id: uuid.UUID
) -> tuple[str | None, str | None]:
    """The pending deletion request's basis and the pending access request's (each or None):
    the policy lets the first open reads and writes, the second only the export."""
    deletion = await open_request_basis(session, customer_id, DeletionRequest, "deletion_request")
    access = await open_request_basis(session, customer_id, AccessRequest, "access_request")
    return deletion, access


async def load_facts(
    session: AsyncSession,
    customer_id: uuid.UUID,
    permit: Permit,
    *,
    justification: str | None = None,
    consents: dict[str, bool] | None = None,
    export: bool = False,
) -> Facts:
    """``consents``: the state already loaded with the customer (``load_subject``), if so.
    ``export``: the read produces the customer's export (an access request opens only that)."""
    needed = conditions_needed(permit)
    deletion_basis, access_basis = (
        await open_subject_requests(session, customer_id)
        if Condition.OPEN_SUBJECT_REQUEST in needed
        else (None, None)
    )
    if consents is None:
        consents = await current_consents(session, customer_id)
    return Facts(
        processing_consent=consents.get("processing", False),
        marketing_consent=(
            consents.get("marketing", False) if Condition.MARKETING_CONSENT in needed else False
        ),
        justification=justification if Condition.JUSTIFICATION in needed else None,
        pending_notice=(
            await has_pending_notice(session, customer_id)
            if Condition.PENDING_NOTICE in needed
            else False
        ),
        open_subject_request_basis=deletion_basis,
        open_access_request_basis=access_basis,
        export=export,
        open_complaint_basis=(
            await open_complaint_basis(session, customer_id)
            if Condition.OPEN_COMPLAINT in needed
            else None
        ),
        # Partner and judicial facts come from their own endpoints (a customer read
        # cannot cite a grant or a request).
        partner=None,
        judicial=None,
    )


async def open_complaint_basis(session: AsyncSession, customer_id: uuid.UUID) -> str | None:
    """``complaint:<id>`` of the oldest open case on this customer, or None.

    Open: received, investigating, or upheld and not yet closed (measures under way).
    """
    found = await session.scalar(
        select(Complaint.id)
        .where(
            Complaint.customer_id == customer_id,
            Complaint.status.in_([s.value for s in CASE_OPEN]),
        )
        .order_by(Complaint.received_at, Complaint.id)
        .limit(1)
    )
    return f"complaint:{found}" if found is not None else None
