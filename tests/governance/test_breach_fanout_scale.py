"""A breach affecting every customer, with over 200 000 of them: the subject fan-out runs in
keyset batches (bounded memory), queues exactly one notice per customer, and a re-run adds
nothing."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select, text

from pdvault.customers.models import Customer
from pdvault.db import new_id, utcnow
from pdvault.notifications.models import NoticeKind, Notification
from pdvault.notifications.service import notice_row
from tests.conftest import Issued
from tests.governance.conftest import BREACHES, ago, iso

CUSTOMERS = 200_123
INSERT_CHUNK = 20_000


async def _bulk_customers(app: Any, count: int) -> None:
    """Minimal tombstone-shaped rows straight into the table (the schema allows NULL keys)."""
    now = utcnow()
    async with app.state.runtime.sessions() as session:
        connection = await session.connection()
        for start in range(0, count, INSERT_CHUNK):
            rows = [
                {
                    "id": new_id(),
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                    "policy_version": "2024-01",
                }
                for _ in range(min(INSERT_CHUNK, count - start))
            ]
            await connection.execute(insert(Customer), rows)
        await session.commit()


def _bytes_to_hold_every_notice(count: int) -> int:
    """What holding one notice row per customer in memory would take (measured on 10 000)."""
    sample = 10_000
    tracemalloc.start()
    try:
        data = {"breach_id": str(new_id()), "detected_at": "x", "data_categories": ["email"]}
        rows = [notice_row(new_id(), "k", dict(data), f"breach:{i}") for i in range(sample)]
        size = tracemalloc.get_traced_memory()[0]
        del rows
    finally:
        tracemalloc.stop()
    return size * count // sample


def _rss() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096


@contextmanager
def peak_rss_growth() -> Iterator[list[int]]:
    """The process's resident memory, sampled while the block runs: ``[peak - start]``.

    Freed heap is first handed back to the OS (``malloc_trim``), so memory the block needs
    cannot hide in space an earlier test left behind. (tracemalloc would be exact, but it
    slows this fan-out five-fold.)"""
    gc.collect()
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc_trim(0)
    start = _rss()
    peak = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.002):
            peak[0] = max(peak[0], _rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = [0]
    try:
        yield out
    finally:
        done.set()
        sampler.join()
        out[0] = max(peak[0], _rss()) - start


async def test_fanout_to_200k_customers_is_bounded_batched_and_rerunnable(
    app: Any, client: httpx.AsyncClient, dpo: Issued
) -> None:
    t0 = time.monotonic()
    await _bulk_customers(app, CUSTOMERS)
    r = await client.post(
        BREACHES,
        json={
            "detected_at": iso(ago(hours=1)),
            "summary": "Cơ sở dữ liệu mẫu bị lộ (ví dụ)",
            "data_categories": ["email", "phone"],
            "all_customers": True,
        },
        headers=dpo.headers,
    )
    assert r.status_code == 201, r.text
    breach = r.json()
    assert breach["affected_count"] == CUSTOMERS
    url = f"{BREACHES}/{breach['id']}/subject-notifications"

    with peak_rss_growth() as growth:
        r = await client.post(url, headers=dpo.headers)
    peak = growth[0]
    assert r.status_code == 200, r.text
    first = r.json()
    assert (first["queued"], first["already_queued"], first["notices"]) == (CUSTOMERS, 0, CUSTOMERS)

    # Bounded: well under what one notice row per customer held at once would take.
    holding_all = _bytes_to_hold_every_notice(CUSTOMERS)
    assert holding_all > 100 * 2**20, holding_all  # the comparison means something
    assert peak < holding_all / 4, (peak, holding_all)
    assert peak < 64 * 2**20, peak

    again = (await client.post(url, headers=dpo.headers)).json()
    assert (again["queued"], again["already_queued"], again["notices"]) == (0, CUSTOMERS, CUSTOMERS)

    async with app.state.runtime.sessions() as session:
        total, distinct = (
            await session.execute(
                select(func.count(), func.count(func.distinct(Notification.customer_id))).where(
                    Notification.kind == NoticeKind.BREACH.value
                )
            )
        ).one()
        uncovered = await session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(~select(Notification.id).where(Notification.customer_id == Customer.id).exists())
        )
    assert (total, distinct, uncovered) == (CUSTOMERS, CUSTOMERS, 0)
    assert time.monotonic() - t0 < 120
    if app.state.runtime.engine.dialect.name == "postgresql":
        # The shared tables are emptied with DELETE between tests (cheap on a few rows); on
        # 200,000 customers and notices a TRUNCATE here costs a fraction of that.
        async with app.state.runtime.engine.begin() as conn:
            await conn.execute(text("TRUNCATE customers, notifications CASCADE"))
