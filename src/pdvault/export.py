"""The export (R6.1): everything pdvault holds about one person, in one JSON document."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.schemas import AccessReportItem
from pdvault.audit.service import access_report
from pdvault.auth.principal import Actor
from pdvault.customers.access import AuditedAccess
from pdvault.customers.models import Customer
from pdvault.db import utcnow
from pdvault.documents.service import documents_metadata
from pdvault.erasure.models import DeletionRequest
from pdvault.erasure.service import DeletionService
from pdvault.governance.complaints import ComplaintService
from pdvault.notifications.models import Notification
from pdvault.notifications.service import notification_out
from pdvault.pagination import decode_cursor
from pdvault.partners.models import Assignment, Partner
from pdvault.runtime import Runtime
from pdvault.subjects.access import AccessRequestService
from pdvault.subjects.consents import consent_history
from pdvault.subjects.models import AccessRequest
from pdvault.subjects.schemas import (
    AccessRequestHeld,
    AssignmentHeld,
    CustomerRecord,
    DeletionRequestHeld,
    Export,
)

REPORT_PAGE = 1000


async def _whole_access_report(
    session: AsyncSession, customer_id: uuid.UUID
) -> list[AccessReportItem]:
    items: list[AccessReportItem] = []
    after = 0
    while True:
        page, cursor = await access_report(session, customer_id, REPORT_PAGE, after)
        items.extend(page)
        if cursor is None:
            return items
        after = int(decode_cursor(cursor))


async def _assignments(session: AsyncSession, customer_id: uuid.UUID) -> list[AssignmentHeld]:
    rows = await session.execute(
        select(Assignment, Partner.name)
        .join(Partner, Partner.id == Assignment.partner_id)
        .where(Assignment.customer_id == customer_id)
        .order_by(Assignment.id)
    )
    return [
        AssignmentHeld(
            partner=name,
            purpose=a.purpose,
            reference=a.reference,
            created_at=a.created_at,
            expires_at=a.expires_at,
            revoked_at=a.revoked_at,
        )
        for a, name in rows
    ]


_Request = TypeVar("_Request", DeletionRequest, AccessRequest)


async def _requests_of(
    session: AsyncSession, model: type[_Request], customer_id: uuid.UUID
) -> Sequence[_Request]:
    """One register's requests about the customer, oldest first."""
    query = select(model).where(model.customer_id == customer_id).order_by(model.id)
    return (await session.scalars(query)).all()


async def _deletion_requests(
    runtime: Runtime, session: AsyncSession, actor: Actor, customer_id: uuid.UUID
) -> list[DeletionRequestHeld]:
    requests = await _requests_of(session, DeletionRequest, customer_id)
    deletions = DeletionService(runtime, session, actor)
    return [
        DeletionRequestHeld(
            id=r.id,
            channel=r.channel,
            status=r.status,
            requested_at=r.requested_at,
            due_at=r.due_at,
            decided_at=r.decided_at,
            note=await deletions.note_of(r),
            rejection_reason=await deletions.reason_of(r),
        )
        for r in requests
    ]


async def _access_requests(
    runtime: Runtime, session: AsyncSession, actor: Actor, customer_id: uuid.UUID
) -> list[AccessRequestHeld]:
    requests = await _requests_of(session, AccessRequest, customer_id)
    access = AccessRequestService(runtime, session, actor)
    return [
        AccessRequestHeld(
            id=r.id,
            channel=r.channel,
            status=r.status,
            requested_at=r.requested_at,
            due_at=r.due_at,
            decided_at=r.decided_at,
            rejection_reason=await access.reason_of(r),
        )
        for r in requests
    ]


def _record(customer: Customer) -> CustomerRecord:
    return CustomerRecord(
        id=customer.id,
        created_at=customer.created_at,
        updated_at=customer.updated_at,
        version=customer.version,
        policy_version=customer.policy_version,
    )


async def export_customer(
    runtime: Runtime,
    session: AsyncSession,
    actor: Actor,
    customer_id: uuid.UUID,
    purpose: str | None,
) -> Export:
    """The read goes through the policy like any other (all four fields, one access event)."""
    access = AuditedAccess(runtime, session, actor)
    read = await access.disclose("customer.export", customer_id, purpose, export=True)
    customer, decision, values = read.customer, read.decision, read.values
    notices = (
        await session.scalars(
            select(Notification)
            .where(Notification.customer_id == customer_id)
            .order_by(Notification.id)
        )
    ).all()
    return Export(
        exported_at=utcnow(),
        purpose=decision.purpose or "",
        customer=_record(customer),
        fields=values,
        consents=await consent_history(session, customer_id),
        access_report=await _whole_access_report(session, customer_id),
        documents=await documents_metadata(session, customer_id),
        deletion_requests=await _deletion_requests(runtime, session, actor, customer_id),
        access_requests=await _access_requests(runtime, session, actor, customer_id),
        complaints=await ComplaintService(runtime, session, actor).for_subject(customer_id),
        partner_assignments=await _assignments(session, customer_id),
        notifications=[notification_out(n) for n in notices],
    )
