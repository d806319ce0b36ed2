"""PostgreSQL stopped mid-load under a real two-worker ``pdvault serve``: every answer during
the outage is a 503 problem (never a 500, never personal data), every read that did return
data has its access event in the log, and reads work again within 5 s of PostgreSQL's return.

The cluster is the tests' own (tests/faults/conftest.py), so stopping it disturbs no one.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from pdvault.audit.ledger import AuditCheckpoint
from pdvault.audit.models import AccessEvent
from pdvault.crypto.keyring import Keyring
from tests.conftest import customer_body
from tests.faults.conftest import (
    READ,
    Cluster,
    admin_token,
    customer_ids,
    role_token,
    server_env,
    values_of,
)
from tests.helpers import PROBLEM_JSON, assert_problem, invoke_cli

RECOVERY_BOUND = 5.0  # seconds from PostgreSQL accepting connections to reads answering 200
CLIENTS = 3


@dataclass
class Answer:
    kind: str  # "read" or "create"
    request_id: str
    status: int
    content_type: str
    text: str
    sent_at: float
    done_at: float
    body: dict[str, Any] | None = None


async def _events_by_request(url: str) -> dict[str, list[str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(AccessEvent.request_id, AccessEvent.outcome))).all()
    finally:
        await engine.dispose()
    out: dict[str, list[str]] = {}
    for rid, outcome in rows:
        out.setdefault(rid, []).append(outcome)
    return out


async def _checkpoint_times(url: str) -> list[datetime]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.scalars(select(AuditCheckpoint.at))).all())
    finally:
        await engine.dispose()


def _reads_ok(base_url: str, staff: dict[str, str], ids: list[str], rounds: int) -> bool:
    """``rounds`` reads, each on a fresh connection (so both workers serve some), all 200."""
    fresh = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=base_url, timeout=5, limits=fresh) as c:
        for i in range(rounds):
            if not _read_ok(c, staff, ids[i % len(ids)]):
                return False
    return True


def _read_ok(c: httpx.Client, staff: dict[str, str], cid: str) -> bool:
    try:
        r = c.get(f"/v1/customers/{cid}", params=READ, headers=staff)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


@dataclass
class Outage:
    mode: str
    stopped_at: float  # pg_ctl stop returned: PostgreSQL is down
    restart_at: float  # pg_ctl start called
    back_at: float  # the first new connection succeeded
    back_wall: datetime  # the same moment, by the wall clock (for stored times)
    recovered_at: float | None  # every read sent from here on answered 200


def _outage(
    cluster: Cluster, mode: str, base_url: str, staff: dict[str, str], ids: list[str]
) -> Outage:
    cluster.stop(mode)
    stopped_at = time.monotonic()
    time.sleep(2.0)  # real: the database process stays down this long while clients write
    restart_at = time.monotonic()
    # Without pg_ctl's own wait (it polls coarsely): probe until a connection succeeds.
    cluster.start(wait=False)
    while not cluster.accepts_connections(timeout=0.5):
        assert time.monotonic() - restart_at < 30, cluster.log_tail()
        time.sleep(0.02)
    back_at, back_wall = time.monotonic(), datetime.now(UTC)
    recovered_at = None
    while time.monotonic() - back_at < RECOVERY_BOUND + 5:
        probe_at = time.monotonic()
        if _reads_ok(base_url, staff, ids, rounds=8):
            recovered_at = probe_at
            break
        time.sleep(0.1)
    return Outage(mode, stopped_at, restart_at, back_at, back_wall, recovered_at)


def test_postgresql_stopped_mid_load(
    running_cluster: Cluster, keyring: Keyring, serve: Any, tmp_path: Path
) -> None:
    cluster = running_cluster
    url = cluster.create_database()
    admin = admin_token(url)
    # Checkpoints every half second: they fail during the outage and must resume after it.
    server = serve(
        url,
        keyring,
        workers=2,
        PDVAULT_DB_POOL_SIZE="3",
        PDVAULT_AUDIT_CHECKPOINT_EVERY_SECONDS="0.5",
    )
    shop = role_token(server.base_url, admin, "storefront")
    staff = role_token(server.base_url, admin, "employee")

    kept: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=server.base_url, timeout=10) as c:
        for _ in range(4):
            body = customer_body(full_name=f"Trần Thị Mất Điện {uuid.uuid4().hex[:6]}")
            r = c.post("/v1/customers", json=body, headers=shop)
            assert r.status_code == 201, r.text
            kept[r.json()["id"]] = body
    ids = list(kept)
    forbidden = [v for body in kept.values() for v in values_of(body)]

    answers: list[Answer] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=server.base_url, timeout=15) as c:
            while not stop.is_set():
                rid = uuid.uuid4().hex
                body: dict[str, Any] | None = None
                sent_at = time.monotonic()
                try:
                    if rng.random() < 0.6:
                        kind = "read"
                        r = c.get(
                            f"/v1/customers/{rng.choice(ids)}",
                            params=READ,
                            headers={**staff, "X-Request-ID": rid},
                        )
                    else:
                        kind = "create"
                        body = customer_body(full_name=f"Lê Văn Tạo {uuid.uuid4().hex[:6]}")
                        r = c.post(
                            "/v1/customers", json=body, headers={**shop, "X-Request-ID": rid}
                        )
                except httpx.HTTPError as exc:  # the server must answer, outage or not
                    with lock:
                        errors.append(type(exc).__name__)
                    continue
                answer = Answer(
                    kind,
                    rid,
                    r.status_code,
                    r.headers.get("content-type", ""),
                    r.text,
                    sent_at,
                    time.monotonic(),
                    body,
                )
                with lock:
                    answers.append(answer)
                time.sleep(0.01)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    outages: list[Outage] = []
    try:
        time.sleep(1.0)  # real: the clients' load on the real server before the first outage
        # Immediate: connections just drop. Fast: backends are told to terminate first.
        for mode in ("immediate", "fast"):
            outages.append(_outage(cluster, mode, server.base_url, staff, ids))
            time.sleep(0.5)  # load after recovery too
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        if not cluster.running():
            cluster.start()

    assert not errors, errors
    for outage in outages:
        # Sent once PostgreSQL was gone and answered before it was started again: nothing
        # can be answered but 503. (Requests in flight at the stop may still complete, and
        # are held to the same log checks as every other success below.)
        blind = [
            a for a in answers if outage.stopped_at < a.sent_at < a.done_at < outage.restart_at
        ]
        assert blind, f"no request was answered during the {outage.mode} outage"
        assert all(a.status == 503 for a in blind), (outage.mode, sorted({a.status for a in blind}))
        assert outage.recovered_at is not None, f"no recovery ({outage.mode}): {server.log()}"
        took = outage.recovered_at - outage.back_at
        assert took < RECOVERY_BOUND, (outage.mode, took)

    statuses = {a.status for a in answers}
    assert statuses <= {200, 201, 503}, sorted(statuses)
    assert 503 in statuses
    for a in answers:
        if a.status == 503:
            assert a.content_type.startswith(PROBLEM_JSON), a.content_type
            fake = httpx.Response(503, text=a.text, headers={"content-type": a.content_type})
            sent = values_of(a.body) if a.body is not None else []
            assert_problem(fake, 503, absent=forbidden + sent)

    # Every read that returned data is in the log, allowed; every acknowledged create exists.
    events = asyncio.run(_events_by_request(url))
    reads_200 = [a for a in answers if a.kind == "read" and a.status == 200]
    assert reads_200
    for a in reads_200:
        assert events.get(a.request_id) == ["allowed"], a.request_id
    created = [a for a in answers if a.kind == "create" and a.status == 201]
    assert created
    stored = asyncio.run(customer_ids(url))
    for a in created:
        assert events.get(a.request_id) == ["allowed"], a.request_id
        assert httpx.Response(201, text=a.text).json()["id"] in stored
    # The last ones acknowledged before the outage and the first after it read back whole.
    edges = []
    for outage in outages:
        edges += [a for a in created if a.done_at < outage.stopped_at][-3:]
        edges += [a for a in created if a.done_at > outage.back_at][:3]
    with httpx.Client(base_url=server.base_url, timeout=10) as c:
        for a in edges:
            assert a.body is not None
            cid = httpx.Response(201, text=a.text).json()["id"]
            r = c.get(f"/v1/customers/{cid}", params=READ, headers=staff)
            assert r.status_code == 200, r.text
            assert r.json()["fields"]["email"] == a.body["email"]

    # The checkpointer carried on after each outage (in some worker).
    stamps = asyncio.run(_checkpoint_times(url))
    for outage in outages:
        assert any(at > outage.back_wall for at in stamps), outage.mode

    env = server_env(url, keyring, tmp_path / "data")
    verified = invoke_cli("audit", "verify", env=env)  # the command's answer: in-process
    assert verified.code == 0, verified.out + verified.err
    assert verified.out.startswith("ok: "), verified.out
