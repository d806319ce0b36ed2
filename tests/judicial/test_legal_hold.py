"""The legal hold: customers named by an open (submitted, or approved and unexpired) judicial
request may not be erased. The deletion workflow calls these queries; they are tested here."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
from sqlalchemy import update

from pdvault.judicial.models import JudicialRequest
from pdvault.judicial.service import customers_on_legal_hold, is_on_legal_hold
from tests.conftest import Issued
from tests.judicial.conftest import (
    FileFactory,
    PersonFactory,
    approved,
    decide,
    expire,
    iso,
    set_valid_until,
)

HANOI = timezone(timedelta(hours=7))


async def _held(app: Any, ids: list[str], now: datetime | None = None) -> set[str]:
    async with app.state.runtime.sessions() as session:
        found = await customers_on_legal_hold(session, [uuid.UUID(i) for i in ids], now=now)
    assert all(isinstance(c, uuid.UUID) for c in found)
    return {str(c) for c in found}


async def _is_held(app: Any, customer_id: str) -> bool:
    async with app.state.runtime.sessions() as session:
        return await is_on_legal_hold(session, uuid.UUID(customer_id))


async def test_a_submitted_request_holds_exactly_its_customers(
    app: Any, legal: Issued, person: PersonFactory, file_request: FileFactory
) -> None:
    a, b, free = await person(), await person(), await person()
    assert await _held(app, [a.id, b.id, free.id]) == set()
    await file_request(legal, [a.id, b.id])
    assert await _held(app, [a.id, b.id, free.id]) == {a.id, b.id}
    assert await _held(app, [free.id]) == set()
    assert await _held(app, [b.id]) == {b.id}
    assert await _is_held(app, a.id) is True
    assert await _is_held(app, b.id) is True
    assert await _is_held(app, free.id) is False


async def test_no_ids_means_no_one_held(
    app: Any, legal: Issued, person: PersonFactory, file_request: FileFactory
) -> None:
    a = await person()
    await file_request(legal, [a.id])
    assert await _held(app, []) == set()


async def test_an_unknown_customer_is_not_held(
    app: Any, legal: Issued, person: PersonFactory, file_request: FileFactory
) -> None:
    a = await person()
    await file_request(legal, [a.id])
    ghost = str(uuid.uuid4())
    assert await _held(app, [ghost, a.id]) == {a.id}
    assert await _is_held(app, ghost) is False


async def test_an_approved_unexpired_request_holds(
    client: httpx.AsyncClient,
    app: Any,
    legal: Issued,
    dpo_a: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> None:
    a, free = await person(), await person()
    filed = await file_request(legal, [a.id])
    await approved(client, dpo_a, filed["id"])
    assert await _held(app, [a.id, free.id]) == {a.id}
    assert await _is_held(app, a.id) is True


async def test_a_rejected_request_releases(
    client: httpx.AsyncClient,
    app: Any,
    dpo_a: Issued,
    dpo_b: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> None:
    a = await person()
    filed = await file_request(dpo_a, [a.id])
    assert await _is_held(app, a.id) is True
    r = await decide(client, dpo_b, filed["id"], approve=False)
    assert r.status_code == 200, r.text
    assert await _held(app, [a.id]) == set()
    assert await _is_held(app, a.id) is False


async def test_an_expired_approved_request_releases(
    client: httpx.AsyncClient,
    app: Any,
    legal: Issued,
    dpo_a: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> None:
    a = await person()
    filed = await file_request(legal, [a.id])
    await approved(client, dpo_a, filed["id"])
    await expire(app, filed["id"])
    assert await _held(app, [a.id]) == set()
    assert await _is_held(app, a.id) is False


async def test_an_expired_submitted_request_releases(
    app: Any, legal: Issued, person: PersonFactory, file_request: FileFactory
) -> None:
    a = await person()
    filed = await file_request(legal, [a.id])
    await expire(app, filed["id"])
    assert await _is_held(app, a.id) is False


async def test_one_open_request_among_closed_ones_holds(
    client: httpx.AsyncClient,
    app: Any,
    legal: Issued,
    dpo_a: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> None:
    a, b = await person(), await person()
    rejected = await file_request(legal, [a.id, b.id])
    assert (await decide(client, dpo_a, rejected["id"], approve=False)).status_code == 200
    lapsed = await file_request(legal, [a.id, b.id])
    await approved(client, dpo_a, lapsed["id"])
    await expire(app, lapsed["id"])
    assert await _held(app, [a.id, b.id]) == set()
    await file_request(legal, [b.id])
    assert await _held(app, [a.id, b.id]) == {b.id}
    assert await _is_held(app, a.id) is False
    assert await _is_held(app, b.id) is True


async def test_now_decides_expiry(
    client: httpx.AsyncClient,
    app: Any,
    legal: Issued,
    dpo_a: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> None:
    """The hold lasts while valid_until is strictly after ``now``, whatever its time zone."""
    a = await person()
    until = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    filed = await file_request(legal, [a.id], valid_until=iso(until))
    for status in ("submitted", "approved"):
        assert await _held(app, [a.id], now=until - timedelta(seconds=1)) == {a.id}, status
        assert await _held(app, [a.id], now=(until - timedelta(minutes=1)).astimezone(HANOI)) == {
            a.id
        }, status
        assert await _held(app, [a.id], now=until) == set(), status
        assert await _held(app, [a.id], now=until.astimezone(HANOI)) == set(), status
        assert await _held(app, [a.id], now=until + timedelta(seconds=1)) == set(), status
        assert await _held(app, [a.id], now=(until + timedelta(hours=2)).astimezone(HANOI)) == (
            set()
        ), status
        if status == "submitted":
            await approved(client, dpo_a, filed["id"])


async def test_a_stored_expiry_in_another_zone_compares_in_utc(
    app: Any, legal: Issued, person: PersonFactory, file_request: FileFactory
) -> None:
    """valid_until sent with +07:00 is the same instant as in UTC."""
    a = await person()
    until_utc = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    await file_request(legal, [a.id], valid_until=until_utc.astimezone(HANOI).isoformat())
    assert await _held(app, [a.id], now=until_utc - timedelta(seconds=1)) == {a.id}
    assert await _held(app, [a.id], now=until_utc + timedelta(seconds=1)) == set()


async def test_moving_expiry_back_into_the_future_holds_again(
    app: Any, legal: Issued, person: PersonFactory, file_request: FileFactory
) -> None:
    a = await person()
    filed = await file_request(legal, [a.id])
    await expire(app, filed["id"])
    assert await _is_held(app, a.id) is False
    await set_valid_until(app, filed["id"], datetime.now(UTC) + timedelta(hours=1))
    assert await _is_held(app, a.id) is True


async def test_many_customers_across_requests(
    app: Any, legal: Issued, dpo_a: Issued, person: PersonFactory, file_request: FileFactory
) -> None:
    people = [(await person()).id for _ in range(12)]
    await file_request(legal, people[:5])
    await file_request(dpo_a, people[3:8])
    assert await _held(app, people) == set(people[:8])
    assert await _held(app, people[8:]) == set()


async def _backdate_filing(app: Any, request_id: str, moment: datetime) -> None:
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(JudicialRequest)
            .where(JudicialRequest.id == uuid.UUID(request_id))
            .values(filed_at=moment)
        )
        await session.commit()


async def test_an_unapproved_request_lapses_after_the_set_time(
    app: Any, legal: Issued, person: PersonFactory, file_request: FileFactory
) -> None:
    """14.16: a request nobody approves holds for PDVAULT_JUDICIAL_UNAPPROVED_HOLD_DAYS
    after filing (default 14), then no longer, though its valid_until lies far ahead."""
    a = await person()
    filed = await file_request(
        legal, [a.id], valid_until=iso(datetime.now(UTC) + timedelta(days=90))
    )
    filed_at = datetime.fromisoformat(filed["filed_at"].replace("Z", "+00:00"))
    days = app.state.runtime.settings.judicial_unapproved_hold_days
    assert days == 14
    assert await _held(app, [a.id], now=filed_at + timedelta(days=days, seconds=-1)) == {a.id}
    assert await _held(app, [a.id], now=filed_at + timedelta(days=days)) == set()
    assert await _held(app, [a.id], now=filed_at + timedelta(days=60)) == set()
    async with app.state.runtime.sessions() as session:
        moment = filed_at + timedelta(days=3)
        assert await is_on_legal_hold(session, uuid.UUID(a.id), moment, unapproved_hold_days=2) is (
            False
        )
        assert await is_on_legal_hold(session, uuid.UUID(a.id), moment, unapproved_hold_days=4)


async def test_an_approved_request_holds_past_the_lapse_time_until_it_expires(
    client: httpx.AsyncClient,
    app: Any,
    legal: Issued,
    dpo_a: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> None:
    a = await person()
    until = (datetime.now(UTC) + timedelta(days=90)).replace(microsecond=0)
    filed = await file_request(legal, [a.id], valid_until=iso(until))
    await approved(client, dpo_a, filed["id"])
    filed_at = datetime.fromisoformat(filed["filed_at"].replace("Z", "+00:00"))
    assert await _held(app, [a.id], now=filed_at + timedelta(days=60)) == {a.id}
    assert await _held(app, [a.id], now=until) == set()


async def test_a_lapsed_unapproved_request_no_longer_blocks_erasure(
    client: httpx.AsyncClient,
    app: Any,
    legal: Issued,
    dpo_a: Issued,
    person: PersonFactory,
    file_request: FileFactory,
) -> None:
    """End to end: the deletion workflow reads the setting; a request filed (and never
    approved) longer ago than it no longer answers 409 legal_hold."""
    a = await person()
    filed = await file_request(
        legal, [a.id], valid_until=iso(datetime.now(UTC) + timedelta(days=90))
    )
    r = await client.post(
        "/v1/deletion-requests",
        json={"customer_id": a.id, "channel": "letter"},
        headers=dpo_a.headers,
    )
    assert r.status_code == 201, r.text
    deletion = r.json()["id"]
    r = await client.post(f"/v1/deletion-requests/{deletion}/approve", headers=dpo_a.headers)
    assert r.status_code == 409, r.text
    assert r.json()["reason"] == "legal_hold"
    await _backdate_filing(app, filed["id"], datetime.now(UTC) - timedelta(days=15))
    r = await client.post(f"/v1/deletion-requests/{deletion}/approve", headers=dpo_a.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "executed"
