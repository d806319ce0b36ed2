"""The listing's time range turned into a seq start (``service.seq_floor``): the answer stays
exactly the events the filters select, across pages, with events stamped out of seq order
(a request that stamped its event and waited for a writer) and a host whose clock is behind.

Time is injected: the log's writer and the checkpointer read a clock the test moves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from pdvault.audit import service
from pdvault.audit.writer import ALLOWED, DENIED, EventDraft
from pdvault.config import Settings
from pdvault.db import new_id
from tests.conftest import TokenFactory, access_events

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """As conftest's, but the app's own checkpointer never runs during a test."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        audit_checkpoint_every_seconds=3600,
        audit_checkpoint_every_events=1_000_000,
        _env_file=None,  # type: ignore[call-arg]
    )


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr("pdvault.audit.writer.utcnow", c)
    monkeypatch.setattr("pdvault.audit.checkpoints.utcnow", c)
    return c


CUSTOMER = new_id()


async def write(app: Any, clock: Clock, at: datetime, count: int, role_tag: int) -> None:
    clock.now = at
    drafts = [
        EventDraft(
            action="customer.read" if i % 3 else "customer.search",
            outcome=DENIED if i % 4 == 0 else ALLOWED,
            customer_id=CUSTOMER if i % 5 == 0 else new_id(),
            purpose="marketing" if (i + role_tag) % 2 else "order_confirmation",
            reason="purpose_not_allowed" if i % 4 == 0 else None,
        )
        for i in range(count)
    ]
    runtime = app.state.runtime
    async with runtime.sessions() as session:
        await runtime.audit.append(session, None, *drafts)
        await session.commit()


async def checkpoint(app: Any, clock: Clock, at: datetime) -> None:
    clock.now = at
    assert await app.state.runtime.checkpointer.checkpoint_now() is not None


async def pages(client: httpx.AsyncClient, auditor: Any, params: dict[str, str]) -> list[int]:
    seqs: list[int] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": "2"} | ({"cursor": cursor} if cursor else {})
        r = await client.get("/v1/audit/events", params=query, headers=auditor.headers)
        assert r.status_code == 200, r.text
        seqs.extend(i["seq"] for i in r.json()["items"])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return seqs


def selected(e: dict[str, Any], params: dict[str, str]) -> bool:
    for key, value in params.items():
        if key == "since" and e["at"] < datetime.fromisoformat(value):
            return False
        if key == "until" and e["at"] >= datetime.fromisoformat(value):
            return False
        if key not in {"since", "until"} and str(e[key]) != value:
            return False
    return True


async def test_time_ranges_and_filters_are_exact_over_the_seq_floor(
    app: Any, client: httpx.AsyncClient, issue: TokenFactory, clock: Clock
) -> None:
    hour = timedelta(hours=1)
    for h in range(6):
        await write(app, clock, T0 + h * hour, 7, h)
        if h == 2:  # a host whose clock is two minutes ahead, before the checkpoint
            await write(app, clock, T0 + h * hour + timedelta(minutes=2), 2, h)
        await checkpoint(app, clock, T0 + h * hour + timedelta(seconds=1))
    # Stamped before the last checkpoint, drawn its seq after it (it waited for a writer).
    await write(app, clock, T0 + 5 * hour - timedelta(minutes=30), 3, 9)
    # A host whose clock is two minutes behind the checkpointer's.
    await write(app, clock, T0 + 5 * hour - timedelta(minutes=2) + timedelta(seconds=30), 2, 4)
    await write(app, clock, T0 + 6 * hour, 4, 1)
    clock.now = T0 + 7 * hour
    auditor = await issue("auditor")
    stored = [e for e in await access_events(app) if e["action"] != "audit.events"]

    async with app.state.runtime.sessions() as session:
        floor = await service.seq_floor(session, T0 + 3 * hour)
        assert floor > 0, "a checkpoint made before the range bounds it"
        assert all(e["seq"] > floor for e in stored if e["at"] >= T0 + 3 * hour)
        assert await service.seq_floor(session, T0) == 0

    def iso(when: datetime) -> str:
        return when.isoformat()

    cases: list[dict[str, str]] = [
        {"since": iso(T0 + 3 * hour)},
        {"since": iso(T0 + 2 * hour + timedelta(minutes=1))},  # the clock ahead's events
        {"since": iso(T0 + 5 * hour - timedelta(minutes=3))},  # the behind clock's events
        {"since": iso(T0 + 4 * hour + timedelta(minutes=10))},  # the waiting ones
        {"since": iso(T0 + hour), "until": iso(T0 + 3 * hour)},
        {"since": iso(T0 + 2 * hour), "until": iso(T0 + 5 * hour), "outcome": "denied"},
        {"since": iso(T0 + 2 * hour), "action": "customer.search"},
        {"since": iso(T0 + 4 * hour), "purpose": "marketing", "outcome": "allowed"},
        {"since": iso(T0 + hour), "customer_id": str(CUSTOMER)},
        {"until": iso(T0 + 2 * hour), "purpose": "order_confirmation"},
        {"since": iso(T0 + 7 * hour)},
    ]
    for params in cases:
        want = [e["seq"] for e in stored if selected(e, params)]
        got = [s for s in await pages(client, auditor, params) if s in {e["seq"] for e in stored}]
        assert got == want, params
    ahead = [e for e in stored if e["at"] == T0 + 2 * hour + timedelta(minutes=2)]
    assert len(ahead) == 2
    async with app.state.runtime.sessions() as session:
        floor = await service.seq_floor(session, T0 + 2 * hour + timedelta(minutes=1))
    assert all(e["seq"] > floor for e in ahead), "the margin keeps the clock ahead's events"
