"""``pdvault.customers.access``: the one place a reader's 404 (unknown), 410 (erased) and 503
(a value that fails its integrity check) are decided, each answered with its access event
(committed)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import update

from pdvault.auth.principal import Actor
from pdvault.crypto.envelope import DecryptionError
from pdvault.customers.access import AuditedAccess, denial_reason
from pdvault.customers.models import Customer
from pdvault.db import utcnow
from pdvault.errors import Gone, NotFound, Problem, ServiceUnavailable
from pdvault.policy import AccessDecision, Reason, Role
from tests.conftest import access_events

ACTION = "test.access"


def _actor() -> Actor:
    return Actor(uuid.uuid4(), "access-test", Role.EMPLOYEE, None, uuid.uuid4())


async def _refusal(app: Any, step: Callable[[AuditedAccess], Awaitable[object]]) -> Problem:
    async with app.state.runtime.sessions() as session:
        await session.connection()  # as in a request: the session has begun its transaction
        access = AuditedAccess(app.state.runtime, session, _actor())
        with pytest.raises(Problem) as raised:
            await step(access)
    return raised.value


async def test_an_unknown_customer_is_404_with_its_event(app: Any) -> None:
    missing = uuid.uuid4()
    problem = await _refusal(app, lambda a: a.live_customer(ACTION, missing))
    assert isinstance(problem, NotFound)
    [event] = await access_events(app, action=ACTION)
    assert (event["outcome"], event["reason"]) == ("denied", "not_found")
    assert event["customer_id"] == missing


async def test_an_erased_customer_is_410_with_its_event(
    app: Any, make_customer: Callable[..., Awaitable[str]]
) -> None:
    cid = uuid.UUID(await make_customer())
    async with app.state.runtime.sessions() as session:
        await session.execute(update(Customer).where(Customer.id == cid).values(erased_at=utcnow()))
        await session.commit()
    problem = await _refusal(app, lambda a: a.live_customer(ACTION, cid, "product_consultation"))
    assert isinstance(problem, Gone)
    [event] = await access_events(app, action=ACTION)
    assert (event["outcome"], event["reason"]) == ("denied", "erased")
    assert (event["customer_id"], event["purpose"]) == (cid, "product_consultation")


async def test_a_value_that_fails_its_check_is_503_with_its_event(app: Any) -> None:
    cid = uuid.uuid4()

    async def failing() -> str:
        raise DecryptionError("tampered")

    problem = await _refusal(
        app, lambda a: a.decrypted(ACTION, failing(), customer_id=cid, basis="case:1")
    )
    assert isinstance(problem, ServiceUnavailable)
    assert problem.detail == "A stored value failed its integrity check; nothing was disclosed."
    [event] = await access_events(app, action=ACTION)
    assert (event["outcome"], event["reason"]) == ("denied", "integrity_failure")
    assert (event["customer_id"], event["basis"]) == (cid, "case:1")


async def test_a_value_that_opens_is_returned_and_logs_nothing(app: Any) -> None:
    async def opening() -> str:
        return "opened"

    async with app.state.runtime.sessions() as session:
        access = AuditedAccess(app.state.runtime, session, _actor())
        assert await access.decrypted(ACTION, opening(), customer_id=None) == "opened"
    assert await access_events(app, action=ACTION) == []


def test_the_denial_reason_names_the_policy_reason_or_denied() -> None:
    refused = AccessDecision(False, "marketing", (), reason=Reason.CONSENT_REQUIRED)
    assert denial_reason(refused) == Reason.CONSENT_REQUIRED.value
    assert denial_reason(AccessDecision(False, "marketing", ())) == "denied"
