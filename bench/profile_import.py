"""Where a batch import spends its time: ``POST /v1/customers/batch`` in-process, one engine.

Runs the app in this process (httpx.ASGITransport, no server, no network), on a fresh migrated
database (SQLite: a temporary file; PostgreSQL: ``pdvault_prof_<random>``, dropped after).
One warm-up batch, then ``--calls`` timed batches of ``--size`` items (customers/s each, one
client), then, with ``--profile``, the same number again under pyinstrument, summarised as the
share of time per step of the batch path. Personal values are fake (example.com, 09x numbers).

    .venv/bin/python bench/profile_import.py --engine sqlite --profile
    .venv/bin/python bench/profile_import.py --engine postgresql --profile

pyinstrument is not a project dependency: ``pip install pyinstrument`` in the venv first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from audit_harness.infra import create_database, drop_database

from pdvault.config import Settings
from pdvault.crypto.keyring import new_keyring
from pdvault.crypto.provider import LocalKeyProvider
from pdvault.db import make_engine, make_sessionmaker
from pdvault.main import create_app
from pdvault.policy import Role
from pdvault.principals import service as principals
from pdvault.principals.schemas import PrincipalIn

MOBILE = ["90", "91", "93", "94", "96", "97", "98", "86", "88", "70", "79", "81", "83", "32"]

# Innermost match wins: a frame's self time goes to the category of the nearest frame on its
# stack that matches one of these (function name, path fragment) rules.
CATEGORIES: list[tuple[str, set[str] | None, str]] = [
    (
        "phone (normalize.phone, phonenumbers)",
        {"phone", "_phone_slow", "_phone_fast"},
        "normalize.py",
    ),
    ("phone (normalize.phone, phonenumbers)", None, "/phonenumbers/"),
    (
        "email (normalize.email, email_validator)",
        {"email", "_email_slow", "_email_fast"},
        "normalize.py",
    ),
    ("email (normalize.email, email_validator)", None, "/email_validator/"),
    ("name/address normalisation", {"full_name", "address", "_text"}, "normalize.py"),
    ("CustomerIn validation, pydantic rest", {"validate_python"}, "pydantic/type_adapter.py"),
    ("sealing (AES-GCM, HMAC, key wrap)", None, "customers/sealing.py"),
    ("access events (AuditLog.write)", None, "/pdvault/audit/"),
    ("consent rows insert", {"_insert_consents"}, "customers/service.py"),
    ("duplicate look-up (email_bidx IN)", {"_existing_emails"}, "customers/service.py"),
    (
        "customer rows + insert",
        {"_insert_batch", "_new_row", "_insert_rows"},
        "customers/service.py",
    ),
    ("create_batch rest (results, blind index)", {"create_batch"}, "customers/service.py"),
    ("idempotency record + commit", None, "/pdvault/idempotency.py"),
    ("auth + policy", None, "/pdvault/auth/"),
]


OTHER = "other (HTTP, JSON, FastAPI, response model, event loop)"


def fake_item(n: int, salt: str, rng: random.Random) -> dict[str, Any]:
    national = f"{rng.choice(MOBILE)}{rng.randrange(10_000_000):07d}"
    spelled = rng.choice(
        [
            f"0{national}",
            f"0{national[:3]} {national[3:6]} {national[6:]}",
            f"+84 {national[:2]} {national[2:5]} {national[5:]}",
            f"+84{national}",
        ]
    )
    domain = rng.choice(["example.com", "Example.COM", "mail.example.org", "example.net"])
    return {
        "full_name": "Nguyễn Văn Mẫu",
        "phone": spelled,
        "email": f"khach.mau.{n}.{salt}@{domain}",
        "address": "Số 1 Đường Ví Dụ, Phường Mẫu, Hà Nội",
        "consents": {"processing": True, "marketing": n % 3 == 0},
        "policy_version": "2024-01",
    }


def categorise(root: Any) -> dict[str, float]:
    shares: dict[str, float] = defaultdict(float)

    def walk(frame: Any, current: str) -> None:
        path = frame.file_path or ""
        for label, functions, fragment in CATEGORIES:
            if fragment in path and (functions is None or frame.function in functions):
                current = label
                break
        if current == OTHER and "/sqlalchemy/" in path:
            current = "SQL execution, greenlet side (SQLAlchemy, driver)"
        shares[current] += frame.total_self_time
        for child in frame.children:
            if not child.is_synthetic:
                walk(child, current)

    walk(root, OTHER)
    return shares


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def top_functions(root: Any) -> list[tuple[tuple[str, str], float]]:
    own: dict[tuple[str, str], float] = defaultdict(float)

    def walk(frame: Any) -> None:
        where = (frame.file_path or "").split("site-packages/")[-1].split("/src/")[-1]
        own[(frame.function, where)] += frame.total_self_time
        for child in frame.children:
            if not child.is_synthetic:
                walk(child)

    walk(root)
    return sorted(own.items(), key=lambda kv: -kv[1])


async def _token(url: str) -> str:
    engine = make_engine(url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            p = await principals.create_principal(
                session, PrincipalIn(name="prof-storefront", role=Role.STOREFRONT)
            )
            token = (await principals.issue_token(session, p, 1)).token
            await session.commit()
            return token
    finally:
        await engine.dispose()


async def _run(url: str, a: argparse.Namespace, workdir: Path) -> None:
    token = await _token(url)
    settings = Settings(database_url=url, data_dir=workdir / "data", _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings, LocalKeyProvider(new_keyring()))
    rng = random.Random(a.seed)  # noqa: S311 - fake test data, not a secret
    salt = secrets.token_hex(3)
    counter = iter(range(10**9))
    headers = {"Authorization": f"Bearer {token}"}

    cpu: list[float] = []

    async def batch(http: httpx.AsyncClient) -> float:
        items = [fake_item(next(counter), salt, rng) for _ in range(a.size)]
        started, cpu_started = time.perf_counter(), time.process_time()
        r = await http.post("/v1/customers/batch", json={"items": items}, headers=headers)
        elapsed = time.perf_counter() - started
        cpu.append(time.process_time() - cpu_started)
        r.raise_for_status()
        statuses = {x["status"] for x in r.json()["results"]}
        if statuses != {201}:
            raise SystemExit(f"unexpected item statuses {statuses}")
        return elapsed

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://prof", timeout=120
        ) as http:
            await batch(http)  # warm-up: caches, prepared statements, imports
            cpu.clear()
            times = [await batch(http) for _ in range(a.calls)]
            rates = [a.size / t for t in times]
            cpu_us = 1e6 * sum(cpu) / (a.size * a.calls)
            print(
                f"{a.engine}: {a.calls} x {a.size} items, customers/s per call "
                + ", ".join(f"{r:,.0f}" for r in rates)
                + f"; overall {a.size * a.calls / sum(times):,.0f}"
                + f"; this process's CPU {cpu_us:.0f} us/customer"
                + f"; loadavg {_loadavg()}"
            )
            if not a.profile:
                return
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.002, async_mode="enabled")
            profiler.start()
            for _ in range(a.calls):
                await batch(http)
            session = profiler.stop()
    root = profiler.last_session.root_frame() if session is not None else None
    if root is None:
        return
    shares = categorise(root)
    total = sum(shares.values())
    print(f"pyinstrument, {a.calls} calls, {total:.2f} s sampled:")
    print("| share | what |\n| ---: | --- |")
    for label, seconds in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"| {100 * seconds / total:.1f}% | {label} |")
    if a.top:
        print(f"top {a.top} functions by self time:")
        for (function, where), seconds in top_functions(root)[: a.top]:
            print(f"  {100 * seconds / total:5.1f}%  {function}  {where}")
    if a.tree:
        print(profiler.output_text(unicode=False, color=False, show_all=False))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "PDVAULT_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    p.add_argument("--size", type=int, default=1000)
    p.add_argument("--calls", type=int, default=3)
    p.add_argument("--seed", type=int, default=8)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--tree", action="store_true", help="also print pyinstrument's call tree")
    p.add_argument("--top", type=int, default=0, help="also print the N top functions")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="pdvault-prof-") as tmp:
        workdir = Path(tmp)
        db = create_database(a.engine, workdir, a.postgres_url)  # fresh and migrated
        try:
            asyncio.run(_run(db.url, a, workdir))
        finally:
            drop_database(db)


if __name__ == "__main__":
    main()
