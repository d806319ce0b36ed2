"""Loading the facts a policy decision needs, and only those (one query per condition).

Later capabilities (partner grants, judicial requests, complaints, the notice outbox) add
their loaders here; routers and the policy engine stay as they are.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.customers.models import Consent
from pdvault.governance.cases import open_complaint_basis
from pdvault.notifications.service import has_pending_notice
from pdvault.policy import Condition, Facts, Permit, conditions_needed
from pdvault.subjects.cases import open_subject_request


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


async def load_facts(
    session: AsyncSession,
    customer_id: uuid.UUID,
    permit: Permit,
    *,
    justification: str | None = None,
) -> Facts:
    needed = conditions_needed(permit)
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
        open_subject_request_basis=(
            await open_subject_request(session, customer_id)
            if Condition.OPEN_SUBJECT_REQUEST in needed
            else None
        ),
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
