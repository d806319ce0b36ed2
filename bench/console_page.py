"""Benchmark of the console's access-log page (issue 18's last figure): ``GET
/console/audit/events`` on a log of 1,000,000 events, in server time, against the 100 ms target.

Run from the repository root::

    .venv/bin/python bench/console_page.py --engine both                    # the real run
    .venv/bin/python bench/console_page.py --engine sqlite --events 20000 --no-write  # a look

Each engine gets a fresh, migrated database (SQLite: a file in a temporary directory;
PostgreSQL: ``pdvault_bench_<random>`` created on ``--postgres-url`` and dropped afterwards),
seeded by ``bench/audit_log.py``'s ``seed_events`` (the same chained, signed log its own bench
measures). Then, in-process: the app of ``pdvault.main.create_app`` with its lifespan (the
seeder's keyring, so the log's writer registrations and checkpoints are its own), an auditor
principal and token saved with the principals' services (as ``tests/conftest.py::save_principal``
does), a sign-in through the console's own form, and for each filter of the audit bench
(``audit_log._cases``: no filter, role, action, purpose, outcome, customer id, principal id, a
time range, a time range with other filters) each of its pages (first, deep: the cursor built as
the page builds it, from the same ``after`` the audit bench uses; last, for closed ranges),
then the first page's own "next" link followed ``FOLLOW`` times.

Server time: the app is wrapped in an ASGI shim that times each request from its start to the
last chunk of its body (no network, no client parsing). Each page is requested once to warm up,
then ``REPEATS`` times; the median and the max are reported. Every response must be 200 and
hold rows, unless the log itself holds none for that page (the API's query says so: one
customer's events in the last day may be none); the harness stops otherwise; no timing is asserted.

Writes ``bench/results/console-page-<date>.json`` (one key per engine, merged with a run of the
other engine the same day) unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from audit_harness.common import RESULTS_DIR, HarnessError
from audit_harness.infra import create_database, drop_database
from audit_log import Seeder, _cases, seed_events

from pdvault.audit import service
from pdvault.config import Settings
from pdvault.console.auditing import FILTER_FIELDS
from pdvault.crypto.provider import LocalKeyProvider
from pdvault.main import create_app
from pdvault.pagination import encode_cursor
from pdvault.policy import Role
from pdvault.principals import service as principals
from pdvault.principals.schemas import PrincipalIn

PAGE = "/console/audit/events"
ORIGIN = "http://testserver"
REPEATS = 7
FOLLOW = 3
TARGET_MS = 100.0
_ROW = re.compile(r'href="/console/audit/events/(\d+)"')
_NEXT = re.compile(r'<a href="([^"]+)" rel="next">')


class ServerTimer:
    """The app, timed per request: from the ASGI call to the last body chunk sent."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last_ms = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last_ms = (time.perf_counter() - started) * 1000

        await self.app(scope, receive, timed_send)


def _query(flt: Any) -> dict[str, str]:
    """The audit bench's ``EventFilter`` as the console form's query parameters (times as
    ISO 8601 with their zone, which the form reads as such)."""
    out: dict[str, str] = {}
    for name in FILTER_FIELDS:
        value = getattr(flt, name)
        if value is None:
            continue
        out[name] = value.isoformat() if isinstance(value, datetime) else str(value)
    return out


async def _auditor(app: Any) -> str:
    async with app.state.runtime.sessions() as session:
        principal = await principals.create_principal(
            session, PrincipalIn(name="bench-auditor", role=Role.AUDITOR, partner_id=None)
        )
        created = await principals.issue_token(session, principal, 7, issued_by=None)
        await session.commit()
    return str(created.token)


async def _get(client: httpx.AsyncClient, timer: ServerTimer, url: str) -> tuple[float, str]:
    r = await client.get(url)
    if r.status_code != 200:
        raise HarnessError(f"{url}: {r.status_code} {r.text[:300]}")
    return timer.last_ms, r.text


def _rows(page: str) -> list[int]:
    return [int(s) for s in _ROW.findall(page)]


async def _measure(client: httpx.AsyncClient, timer: ServerTimer, url: str) -> dict[str, Any]:
    times, page = [], ""
    for _ in range(REPEATS + 1):
        ms, page = await _get(client, timer, url)
        times.append(ms)
    rows = _rows(page)
    return {
        "rows": len(rows),
        "first_seq": rows[0] if rows else None,
        "median_ms": round(statistics.median(times[1:]), 2),
        "max_ms": round(max(times[1:]), 2),
        "warm_up_ms": round(times[0], 2),
        "_page": page,
    }


async def _none_there(app: Any, flt: Any, after: int) -> bool:
    """Whether the log itself holds no event for this page (the API's query, as the audit
    bench runs it): an empty page is then the right answer, not a broken one."""
    async with app.state.runtime.sessions() as session:
        items, _ = await service.list_events(session, flt, 1, after)
        await session.rollback()
    return not items


async def _pages(seeder: Seeder, settings: Settings) -> list[dict[str, Any]]:
    app = create_app(settings, LocalKeyProvider(seeder.keyring))
    timer = ServerTimer(app)
    out: list[dict[str, Any]] = []
    async with app.router.lifespan_context(app):
        token = await _auditor(app)
        transport = httpx.ASGITransport(app=timer)
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
            r = await client.post(
                "/console/sign-in",
                data={"token": token, "language": "vi"},
                headers={"Origin": ORIGIN},
            )
            if r.status_code != 303:
                raise HarnessError(f"sign-in: {r.status_code} {r.text[:300]}")
            for name, flt, pages in _cases(seeder):
                query = _query(flt)
                for page, after in pages:
                    params = {**query, **({"cursor": encode_cursor(str(after))} if after else {})}
                    url = f"{PAGE}?{urlencode(params)}" if params else PAGE
                    figures = await _measure(client, timer, url)
                    if not figures["rows"] and not await _none_there(app, flt, after):
                        raise HarnessError(f"{url}: the page holds no rows, the log does")
                    body = figures.pop("_page")
                    out.append({"filter": name, "page": page, "after": after, **figures})
                    _show(name, page, figures)
                    if page != "first":
                        continue
                    for n in range(1, FOLLOW + 1):  # the page's own "next" link
                        found = _NEXT.search(body)
                        if found is None:
                            break
                        figures = await _measure(client, timer, html.unescape(found.group(1)))
                        body = figures.pop("_page")
                        label = f"next x{n}"
                        out.append({"filter": name, "page": label, **figures})
                        _show(name, label, figures)
    return out


def _show(name: str, page: str, f: dict[str, Any]) -> None:
    mark = "" if f["median_ms"] < TARGET_MS else "  > 100 ms"
    print(
        f"  {name:58} {page:7} {f['rows']:3} rows"
        f" median {f['median_ms']:7.2f} ms  max {f['max_ms']:7.2f} ms{mark}",
        flush=True,
    )


def bench_engine(engine: str, events: int, postgres_url: str, workdir: Path) -> dict[str, Any]:
    db = create_database(engine, workdir, postgres_url)
    try:
        started = time.perf_counter()
        seeder = seed_events(db.url, events)
        seed_seconds = time.perf_counter() - started
        print(f"[{engine}] seeded {events:,} events in {seed_seconds:.1f} s", flush=True)
        data_dir = workdir / f"data-{engine}-{uuid.uuid4().hex[:8]}"
        data_dir.mkdir()
        settings = Settings(
            database_url=db.url,
            data_dir=data_dir,
            _env_file=None,  # type: ignore[call-arg]
        )
        pages = asyncio.run(_pages(seeder, settings))
        slow = [p for p in pages if p["median_ms"] >= TARGET_MS]
        return {
            "events": events,
            "seed_seconds": round(seed_seconds, 1),
            "target_ms": TARGET_MS,
            "repeats": REPEATS,
            "worst_median_ms": max(p["median_ms"] for p in pages),
            "worst_max_ms": max(p["max_ms"] for p in pages),
            "over_target": [f"{p['filter']} / {p['page']}" for p in slow],
            "pages": pages,
        }
    finally:
        drop_database(db)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument(
        "--postgres-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    out = RESULTS_DIR / f"console-page-{date}.json"
    report: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    with tempfile.TemporaryDirectory(prefix="pdvault-console-page-") as tmp:
        for engine in engines:
            figures = bench_engine(engine, args.events, args.postgres_url, Path(tmp))
            report[engine] = {"measured_at": datetime.now(UTC).isoformat(), **figures}
            if not args.no_write:
                RESULTS_DIR.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
