"""No bottleneck, nothing lost: concurrent requests on a real uvicorn with two worker
processes all land in the access log, from writers of both processes, and the log verifies.

Every request here goes over a fresh connection, so the kernel spreads them over both workers.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from pdvault.audit.ledger import AuditWriter
from pdvault.audit.models import AccessEvent
from pdvault.audit.signing import LogSigner
from pdvault.audit.verify import VerifyResult, verify_log
from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring
from pdvault.crypto.provider import LocalKeyProvider
from pdvault.policy import Role
from pdvault.principals.bootstrap import create_principal_with_token
from pdvault.principals.schemas import PrincipalIn
from tests.conftest import customer_body

pytestmark = pytest.mark.e2e

REQUESTS = 600
CONCURRENCY = 32
ROLES = ("storefront", "employee", "auditor")


async def _fire(base_url: str, tokens: dict[str, str]) -> tuple[int, dict[str, int]]:
    """Send the mix; return how many access events the responses say were written."""
    headers = {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=0)
    gate = asyncio.Semaphore(CONCURRENCY)
    kinds: dict[str, int] = {}

    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:

        async def send(method: str, url: str, role: str, **kw: Any) -> httpx.Response:
            async with gate:
                return await client.request(method, url, headers=headers[role], **kw)

        # Customers to read and search for (these creates are events too).
        bodies = [customer_body() for _ in range(40)]
        created = await asyncio.gather(
            *(send("POST", "/v1/customers", "storefront", json=b) for b in bodies)
        )
        assert [r.status_code for r in created] == [201] * len(bodies), created[0].text
        ids = [r.json()["id"] for r in created]
        expected = len(created)
        kinds["create"] = len(created)

        rng = random.Random(2024)

        def one(i: int) -> tuple[str, Awaitable[httpx.Response]]:
            k = rng.randrange(len(ids))
            url = f"/v1/customers/{ids[k]}"
            match i % 6:
                case 0:
                    return "read", send(
                        "GET", url, "employee", params={"purpose": "order_confirmation"}
                    )
                case 1:
                    return "read", send(
                        "GET", url, "storefront", params={"purpose": "customer_self_service"}
                    )
                case 2:  # the storefront never reads for staff purposes
                    return "denied", send(
                        "GET", url, "storefront", params={"purpose": "order_confirmation"}
                    )
                case 3:  # the auditor never reads a customer
                    return "denied", send(
                        "GET", url, "auditor", params={"purpose": "order_confirmation"}
                    )
                case 4:
                    # an existing email (one match) or an unknown one (one no-match event)
                    email = bodies[k]["email"] if i % 12 == 4 else f"khong.co.{i}@example.com"
                    body = {"email": email, "purpose": "product_consultation"}
                    return "search", send("POST", "/v1/customers/search", "employee", json=body)
                case _:
                    return "create", send("POST", "/v1/customers", "employee", json=customer_body())

        planned = [one(i) for i in range(REQUESTS - len(bodies))]
        responses = await asyncio.gather(*(call for _, call in planned))

    for (kind, _), r in zip(planned, responses, strict=True):
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "read":
            assert r.status_code == 200, r.text
            expected += 1
        elif kind == "denied":
            assert r.status_code == 403, r.text
            expected += 1
        elif kind == "create":
            assert r.status_code == 201, r.text
            expected += 1
        else:
            assert r.status_code == 200, r.text
            # one event per match, or one recording that nothing matched
            expected += max(1, len(r.json()["items"]))
    return expected, kinds


async def _inspect(
    database_url: str, public_raw: bytes
) -> tuple[int, dict[str, int], dict[str, str], VerifyResult]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(AccessEvent)) or 0)
            per_writer = {
                str(w): int(n)
                for w, n in (
                    await conn.execute(
                        select(AccessEvent.writer_id, func.count()).group_by(AccessEvent.writer_id)
                    )
                ).all()
            }
            processes = {
                str(w): p
                for w, p in (
                    await conn.execute(select(AuditWriter.writer_id, AuditWriter.process))
                ).all()
            }
        result = await verify_log(engine, public_raw)
    finally:
        await engine.dispose()
    return total, per_writer, processes, result


def test_concurrent_requests_on_two_workers_lose_no_event(
    live_server_factory: Callable[..., Any],
    database_url: str,
    keyring: Keyring,
    tmp_path: Path,
) -> None:
    server = live_server_factory(workers=2)
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path / "tokens",
        _env_file=None,  # type: ignore[call-arg]
    )
    tokens = {
        role: asyncio.run(
            create_principal_with_token(
                settings, PrincipalIn(name=f"concurrency-{role}", role=Role(role)), 1
            )
        )
        for role in ROLES
    }

    expected, kinds = asyncio.run(_fire(server.base_url, tokens))
    assert sum(kinds.values()) == REQUESTS
    assert all(kinds.get(k, 0) > 50 for k in ("read", "denied", "search", "create")), kinds

    public_raw = LogSigner(LocalKeyProvider(keyring).signing_seed()).public_raw
    total, per_writer, processes, result = asyncio.run(_inspect(database_url, public_raw))

    assert total == expected  # none lost, none doubled
    assert sum(per_writer.values()) == total
    # Events came from several writers, registered by two different processes.
    assert len(per_writer) >= 2, per_writer
    assert set(per_writer) <= set(processes), "an event of an unregistered writer"
    pids = {processes[w].rsplit(":", 1)[1] for w in per_writer}
    assert len(pids) == 2, processes
    assert str(server.process.pid) not in pids  # the workers, not the supervisor

    assert result.ok, result
    assert result.checked == total
    assert result.first_invalid_seq is None
