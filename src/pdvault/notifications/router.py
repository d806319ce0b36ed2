"""The notice outbox the storefront drains (docs/api.md "Complaints, breaches, notices")."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.deps import RuntimeDep, SessionDep, require
from pdvault.errors import NotFound
from pdvault.notifications import service
from pdvault.notifications.schemas import NotificationOut, NotificationPage
from pdvault.openapi_docs import problems
from pdvault.pagination import Cursor, Limit
from pdvault.policy import Operation

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])


@router.get(
    "",
    response_model=NotificationPage,
    summary="Notices to deliver to customers, oldest first; pending by default (storefront)",
    responses=problems(401, 403, 422, 503),
)
async def list_notifications(
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.NOTIFICATION_LIST))],
    status: Annotated[Literal["pending", "delivered", "all"], Query()] = "pending",
    limit: Limit = 50,
    cursor: Cursor = None,
) -> NotificationPage:
    page = await service.list_notifications(session, status, limit, cursor)
    await runtime.audit.append(
        session, actor, EventDraft(action=Operation.NOTIFICATION_LIST.value, outcome=ALLOWED)
    )
    await session.commit()
    return page


@router.post(
    "/{notification_id}/ack",
    response_model=NotificationOut,
    summary="Mark a notice delivered; acking twice keeps the first time (storefront)",
    responses=problems(401, 403, 404, 422, 503),
)
async def acknowledge_notification(
    notification_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(Operation.NOTIFICATION_ACK))],
) -> NotificationOut:
    action = Operation.NOTIFICATION_ACK.value
    notice = await service.acknowledge(session, notification_id, actor.principal_id)
    if notice is None:
        raise await runtime.audit.denied(
            session,
            actor,
            EventDraft.refusal(action, "not_found"),
            problem=NotFound("No such notification."),
        )
    await runtime.audit.append(
        session,
        actor,
        EventDraft(
            action=action,
            outcome=ALLOWED,
            customer_id=notice.customer_id,
            basis=f"notification:{notice.id}",
        ),
    )
    await session.commit()
    return service.notification_out(notice)
