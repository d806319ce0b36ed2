"""The auditor's API (docs/api.md "Audit") and the data subject's access report.

Every expectation is computed from the stored log (``access_events``), never hard-coded: a
listing must return exactly the rows a Python filter over the table selects, in seq order.
"""

from __future__ import annotations

import base64
import functools
import gc
import hashlib
import math
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from sqlalchemy import event, update

from pdvault.audit.chain import checkpoint_statement, heads_root
from pdvault.audit.models import AccessEvent
from pdvault.audit.service import EventFilter, export_lines, list_events
from pdvault.config import Settings
from pdvault.pagination import encode_cursor
from tests.conftest import Issued, TokenFactory, access_events, customer_body
from tests.helpers import assert_problem


@pytest.fixture
def issue(issue_via_api: TokenFactory) -> TokenFactory:
    """Principals made through the admin API: the events checked here include theirs."""
    return issue_via_api


EVENTS = "/v1/audit/events"
EXPORT = "/v1/audit/events/export"
MakeCustomer = Callable[..., Awaitable[str]]
PARTNER_NAME = "Giao Hàng Mẫu"
OTHER_ROLES = ("admin", "storefront", "employee", "legal", "partner")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """As conftest's, but no background checkpoint can appear in the middle of a test."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        auth_cache_seconds=0.5,
        audit_checkpoint_every_seconds=3600,
        audit_checkpoint_every_events=1_000_000,
        _env_file=None,
    )


# -- helpers ----------------------------------------------------------------------------------


def as_api(e: dict[str, Any]) -> dict[str, Any]:
    """A stored event as the API must show it."""
    return {
        "seq": e["seq"],
        "at": e["at"],
        "request_id": e["request_id"],
        "principal_id": str(e["principal_id"]) if e["principal_id"] else None,
        "role": e["role"],
        "action": e["action"],
        "customer_id": str(e["customer_id"]) if e["customer_id"] else None,
        "fields": list(e["fields"] or []),
        "purpose": e["purpose"],
        "basis": e["basis"],
        "outcome": e["outcome"],
        "reason": e["reason"],
        "token_id": str(e["token_id"]) if e["token_id"] else None,
        "target_principal_id": str(e["target_principal_id"]) if e["target_principal_id"] else None,
        "target_token_id": str(e["target_token_id"]) if e["target_token_id"] else None,
        "writer_id": str(e["writer_id"]),
        "writer_seq": e["writer_seq"],
        "hash": bytes(e["hash"]).hex(),
    }


def parse_item(item: dict[str, Any]) -> dict[str, Any]:
    out = dict(item)
    out["at"] = datetime.fromisoformat(item["at"])
    return out


def matches(e: dict[str, Any], params: dict[str, str]) -> bool:
    for key, value in params.items():
        if key == "since":
            if e["at"] < datetime.fromisoformat(value):
                return False
        elif key == "until":
            if e["at"] >= datetime.fromisoformat(value):
                return False
        elif str(e[key]) != value:
            return False
    return True


async def list_all(
    client: httpx.AsyncClient, who: Issued, params: dict[str, Any], limit: int = 500
) -> tuple[list[dict[str, Any]], int]:
    """Every page of a listing; returns the items and the number of pages."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {**params, "limit": limit} | ({"cursor": cursor} if cursor else {})
        r = await client.get(EVENTS, params=query, headers=who.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"items", "next_cursor"}, body
        assert len(body["items"]) <= limit
        items.extend(body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
        assert body["items"], "a page with a next cursor is never empty"


async def export(client: httpx.AsyncClient, who: Issued, params: dict[str, Any]) -> list[Any]:
    r = await client.get(EXPORT, params=params, headers=who.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].split(";")[0].strip() == "application/x-ndjson"
    text = r.text
    if not text:
        return []
    assert text.endswith("\n"), "every line ends with a newline"
    lines = text[:-1].split("\n")
    assert all(line.strip() for line in lines), "no blank lines"
    return [orjson.loads(line) for line in lines]


async def check_listing(
    client: httpx.AsyncClient, app: Any, who: Issued, params: dict[str, str]
) -> list[int]:
    """The listing returns exactly the stored events the filter selects; their seqs."""
    snapshot = await access_events(app)
    expected = [as_api(e) for e in snapshot if matches(e, params)]
    assert expected, f"the world has events for {params}"
    items, _ = await list_all(client, who, params)
    assert [parse_item(i) for i in items] == expected, params
    return [i["seq"] for i in items]


def cursor_of(value: str) -> str:
    return encode_cursor(value)


@dataclass
class World:
    auditor: Issued
    dpo: Issued
    shop: Issued
    staff: Issued
    c1: str
    c2: str


@pytest.fixture
async def world(client: httpx.AsyncClient, issue: TokenFactory) -> World:
    """Events of several roles, actions, purposes, customers and both outcomes."""
    auditor = await issue("auditor", "kiểm-toán-viên")
    dpo = await issue("dpo", "cán-bộ-bảo-vệ-dữ-liệu")
    shop = await issue("storefront", "cửa-hàng-mẫu")
    staff = await issue("employee", "nhân-viên-mẫu")
    ids = []
    for _ in range(2):
        r = await client.post("/v1/customers", json=customer_body(), headers=shop.headers)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    c1, c2 = ids
    for cid, purpose in (
        (c1, "order_confirmation"),
        (c2, "product_consultation"),
        (c1, "product_information"),
    ):
        r = await client.get(
            f"/v1/customers/{cid}", params={"purpose": purpose}, headers=staff.headers
        )
        assert r.status_code == 200, r.text
    # denied: no marketing consent; and a purpose the employee role does not hold
    r = await client.get(
        f"/v1/customers/{c1}", params={"purpose": "marketing"}, headers=staff.headers
    )
    assert r.status_code == 403, r.text
    r = await client.get(
        f"/v1/customers/{c2}", params={"purpose": "customer_self_service"}, headers=staff.headers
    )
    assert r.status_code == 403, r.text
    r = await client.get(
        f"/v1/customers/{c2}", params={"purpose": "customer_self_service"}, headers=shop.headers
    )
    assert r.status_code == 200, r.text
    # the dpo lists once, so audit.events appears too
    r = await client.get(EVENTS, headers=dpo.headers)
    assert r.status_code == 200, r.text
    return World(auditor, dpo, shop, staff, c1, c2)


# -- listing ----------------------------------------------------------------------------------


async def test_each_filter_alone_and_combined(
    client: httpx.AsyncClient, app: Any, world: World
) -> None:
    w = world
    cases: list[dict[str, str]] = [
        {"customer_id": w.c1},
        {"customer_id": w.c2},
        {"principal_id": w.staff.principal_id},
        {"principal_id": w.shop.principal_id},
        {"role": "employee"},
        {"role": "dpo"},
        {"purpose": "order_confirmation"},
        {"purpose": "registration"},
        {"action": "customer.read"},
        {"action": "customer.create"},
        {"outcome": "denied"},
        {"outcome": "allowed"},
        {"customer_id": w.c1, "role": "employee", "outcome": "allowed"},
        {"customer_id": w.c1, "purpose": "marketing", "outcome": "denied"},
        {"principal_id": w.staff.principal_id, "action": "customer.read", "customer_id": w.c2},
        {"role": "storefront", "action": "customer.read", "purpose": "customer_self_service"},
        {"customer_id": w.c2, "outcome": "denied", "role": "employee"},
        {"token_id": w.staff.token_id},
        {"token_id": w.shop.token_id, "action": "customer.create"},
        {"target_principal_id": w.shop.principal_id},
        {"target_token_id": w.staff.token_id},
    ]
    for params in cases:
        if len(params) == 1:
            everything = len(await access_events(app))
            assert len(await check_listing(client, app, w.auditor, params)) < everything, params
        else:
            assert await check_listing(client, app, w.auditor, params), params
    # a filter nothing matches
    items, _ = await list_all(client, w.auditor, {"customer_id": str(uuid.uuid4())})
    assert items == []
    items, _ = await list_all(client, w.auditor, {"role": "employee", "purpose": "registration"})
    assert items == []


async def test_since_inclusive_until_exclusive(
    client: httpx.AsyncClient, app: Any, world: World
) -> None:
    snapshot = await access_events(app)
    moments = sorted({e["at"] for e in snapshot})
    assert len(moments) >= 5
    t = moments[len(moments) // 2]
    at_t = [e["seq"] for e in snapshot if e["at"] == t]
    assert at_t
    vietnam = timezone(timedelta(hours=7))
    spellings = [
        t.isoformat(),
        t.isoformat().replace("+00:00", "Z"),
        t.astimezone(vietnam).isoformat(),  # the same instant, written in UTC+7
    ]
    for spelled in spellings:
        since = await check_listing(client, app, world.auditor, {"since": spelled})
        assert set(at_t) <= set(since), "since is inclusive"
        until = await check_listing(client, app, world.auditor, {"until": spelled})
        assert not set(at_t) & set(until), "until is exclusive"
        assert until == [e["seq"] for e in snapshot if e["at"] < t], spelled
        items, _ = await list_all(client, world.auditor, {"since": spelled, "until": spelled})
        assert items == []
    # one microsecond later, until takes the boundary event in
    later = (t + timedelta(microseconds=1)).isoformat()
    items, _ = await list_all(client, world.auditor, {"since": t.isoformat(), "until": later})
    assert [i["seq"] for i in items] == at_t
    # a window combined with other filters
    lo, hi = moments[1], moments[-2]
    params = {"since": lo.isoformat(), "until": hi.isoformat(), "role": "employee"}
    assert await check_listing(client, app, world.auditor, params)


async def test_pagination_visits_every_event_once_in_seq_order(
    client: httpx.AsyncClient, app: Any, issue: TokenFactory
) -> None:
    auditor = await issue("auditor")
    shop = await issue("storefront")
    r = await client.post(
        "/v1/customers/batch",
        json={"items": [customer_body() for _ in range(40)]},
        headers=shop.headers,
    )
    assert r.status_code == 200, r.text
    created = await access_events(app, action="customer.create")
    assert len(created) == 40

    items, pages = await list_all(client, auditor, {"action": "customer.create"}, limit=7)
    assert [i["seq"] for i in items] == [e["seq"] for e in created]
    assert pages == math.ceil(40 / 7)

    # Unfiltered: each page's own audit.events event lands after everything and is seen by the
    # later pages, except the last page's own (written after its query).
    items, pages = await list_all(client, auditor, {}, limit=7)
    seqs = [i["seq"] for i in items]
    assert seqs == sorted(set(seqs)), "strictly increasing: no repeats, no reordering"
    final = await access_events(app)
    assert seqs == [e["seq"] for e in final][:-1]
    assert final[-1]["action"] == "audit.events"
    assert pages >= math.ceil(len(seqs) / 7)


async def test_bad_parameters_are_422(client: httpx.AsyncClient, world: World) -> None:
    bad: list[dict[str, Any]] = [
        {"cursor": "!!!"},
        {"cursor": cursor_of("not-a-number")},
        {"cursor": cursor_of("-3")},
        {"cursor": "x" * 500},
        {"limit": 0},
        {"limit": 501},
        {"limit": "many"},
        {"outcome": "maybe"},
        {"outcome": "ALLOWED"},
        {"customer_id": "not-a-uuid"},
        {"principal_id": "42"},
        {"since": "yesterday"},
        {"until": "2026-13-01T00:00:00Z"},
        {"role": "r" * 100},
    ]
    for params in bad:
        r = await client.get(EVENTS, params=params, headers=world.auditor.headers)
        body = assert_problem(r, 422)
        assert body.get("errors"), (params, body)
        for err in body["errors"]:
            assert {"loc", "msg"} <= set(err), err
    # the edges of the valid range
    r = await client.get(EVENTS, params={"limit": 1}, headers=world.auditor.headers)
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) == 1
    assert r.json()["next_cursor"]
    r = await client.get(EVENTS, params={"limit": 500}, headers=world.auditor.headers)
    assert r.status_code == 200, r.text
    assert r.json()["next_cursor"] is None
    r = await client.get(EVENTS, params={"cursor": cursor_of("0")}, headers=world.auditor.headers)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("key", ["action", "role", "purpose"])
@pytest.mark.parametrize("value", ["q\x00", "customer.read\x00x", "khách hàng", "a b"])
async def test_name_filters_take_names_only(
    client: httpx.AsyncClient, world: World, key: str, value: str
) -> None:
    """Found by the fuzzer: a NUL in a name filter was a 503 on PostgreSQL (a text parameter
    cannot hold it). Roles, purposes and actions are names: anything else is 422, on both
    engines, for the listing and the export alike."""
    for path in (EVENTS, f"{EVENTS}/export"):
        r = await client.get(path, params={key: value}, headers=world.auditor.headers)
        body = assert_problem(r, 422)
        assert [e["loc"] for e in body["errors"]] == [["query", key]], body
    r = await client.get(EVENTS, params={key: "customer.read"}, headers=world.auditor.headers)
    assert r.status_code == 200, r.text


async def test_time_without_offset_is_refused_not_a_server_error(
    client: httpx.AsyncClient, world: World
) -> None:
    """RFC 3339 times carry an offset; one without is a client error, never a 500."""
    for key in ("since", "until"):
        r = await client.get(
            EVENTS, params={key: "2026-01-01T00:00:00"}, headers=world.auditor.headers
        )
        assert_problem(r, 422)


async def test_each_listing_is_itself_logged(
    client: httpx.AsyncClient, app: Any, world: World
) -> None:
    for who in (world.auditor, world.dpo):
        r = await client.get(
            EVENTS, params={"customer_id": world.c1, "limit": 3}, headers=who.headers
        )
        assert r.status_code == 200, r.text
        last = (await access_events(app))[-1]
        assert last["action"] == "audit.events"
        assert str(last["principal_id"]) == who.principal_id
        assert last["outcome"] == "allowed"
        assert last["request_id"] == r.headers["X-Request-ID"]
        assert last["fields"] == []
        assert last["seq"] > max(i["seq"] for i in r.json()["items"])


async def test_who_may_list(
    client: httpx.AsyncClient, app: Any, admin: Issued, issue: TokenFactory, world: World
) -> None:
    for who in (world.auditor, world.dpo):
        r = await client.get(EVENTS, headers=who.headers)
        assert r.status_code == 200, r.text
    partner_id = await new_partner_id(client, admin)
    for role in OTHER_ROLES:
        who = (
            admin
            if role == "admin"
            else await issue(
                role, f"{role}-khác", partner_id=partner_id if role == "partner" else None
            )
        )
        before = len(await access_events(app))
        r = await client.get(EVENTS, headers=who.headers)
        assert_problem(r, 403, "role_not_permitted")
        assert "items" not in r.text
        new = (await access_events(app))[before:]
        assert [(e["action"], e["outcome"], e["reason"]) for e in new] == [
            ("audit.events", "denied", "role_not_permitted")
        ], role
    assert_problem(await client.get(EVENTS), 401)
    assert_problem(
        await client.get(EVENTS, headers={"Authorization": "Bearer pdv_not_a_real_token"}), 401
    )


# Values a leak would show; the world's customers are made from these.
LEAK_NAME = "Trần Thị Bí Mật"
LEAK_EMAIL = "tran.bi.mat.audit@example.com"
LEAK_PHONE = "0987 654 321"
LEAK_ADDRESS = "Số 77 Đường Kiểm Toán, Phường Mẫu, Đà Nẵng"
LEAK_VALUES = [
    LEAK_NAME,
    "Bí Mật",
    LEAK_EMAIL,
    "tran.bi.mat.audit",
    LEAK_PHONE,
    "+84987654321",
    "84987654321",
    "987654321",
    "0987654321",
    LEAK_ADDRESS,
    "Kiểm Toán",
]


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v)


async def test_no_event_field_holds_a_personal_value(
    client: httpx.AsyncClient, issue: TokenFactory
) -> None:
    auditor, shop, staff = (
        await issue("auditor"),
        await issue("storefront"),
        await issue("employee"),
    )
    body = customer_body(
        full_name=LEAK_NAME, email=LEAK_EMAIL, phone=LEAK_PHONE, address=LEAK_ADDRESS
    )
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    r = await client.get(
        f"/v1/customers/{cid}", params={"purpose": "order_confirmation"}, headers=staff.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["full_name"] == LEAK_NAME
    for key, value in (("email", LEAK_EMAIL), ("phone", LEAK_PHONE)):
        r = await client.post(
            "/v1/customers/search",
            json={key: value, "purpose": "order_confirmation"},
            headers=staff.headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["items"]
    r = await client.get(
        f"/v1/customers/{cid}", params={"purpose": "marketing"}, headers=staff.headers
    )
    assert r.status_code == 403, r.text

    items, _ = await list_all(client, auditor, {})
    lines = await export(client, auditor, {})
    assert len(items) >= 6
    assert len(lines) >= 6
    texts = [s.casefold() for s in strings_in(items)] + [s.casefold() for s in strings_in(lines)]
    for value in LEAK_VALUES:
        assert not [t for t in texts if value.casefold() in t], value


# -- export -----------------------------------------------------------------------------------


async def test_export_is_json_lines_equal_to_the_listing(
    client: httpx.AsyncClient, app: Any, world: World
) -> None:
    for params in ({"role": "employee"}, {"customer_id": world.c1}, {"outcome": "denied"}):
        lines = await export(client, world.auditor, params)
        items, _ = await list_all(client, world.auditor, params, limit=3)
        assert lines, params
        assert lines == items, params
    # Unfiltered: the export's own audit.export event is committed before the stream starts.
    lines = await export(client, world.auditor, {})
    assert lines[-1]["action"] == "audit.export"
    assert lines[-1]["principal_id"] == world.auditor.principal_id
    stored = await access_events(app)
    assert [parse_item(line) for line in lines] == [as_api(e) for e in stored]
    items, _ = await list_all(client, world.auditor, {}, limit=4)
    last = lines[-1]["seq"]
    assert [i for i in items if i["seq"] <= last] == lines
    # an export matching nothing is an empty body, still 200
    assert await export(client, world.auditor, {"customer_id": str(uuid.uuid4())}) == []


async def test_only_the_auditor_exports(
    client: httpx.AsyncClient, admin: Issued, issue: TokenFactory, world: World
) -> None:
    assert_problem(await client.get(EXPORT, headers=world.dpo.headers), 403, "role_not_permitted")
    partner_id = await new_partner_id(client, admin)
    for role in OTHER_ROLES:
        who = (
            admin
            if role == "admin"
            else await issue(role, partner_id=partner_id if role == "partner" else None)
        )
        assert_problem(await client.get(EXPORT, headers=who.headers), 403, "role_not_permitted")
    assert_problem(await client.get(EXPORT), 401)
    r = await client.get(EXPORT, params={"outcome": "maybe"}, headers=world.auditor.headers)
    assert_problem(r, 422)


async def bulk_events(client: httpx.AsyncClient, shop: Issued, batches: int) -> None:
    """1,000 customer.create events per batch request."""
    for _ in range(batches):
        r = await client.post(
            "/v1/customers/batch",
            json={"items": [customer_body() for _ in range(1000)]},
            headers=shop.headers,
        )
        assert r.status_code == 200, r.text
        assert all(x["status"] == 201 for x in r.json()["results"])


@dataclass
class StatementLog:
    statements: list[str]

    def page_queries(self) -> list[str]:
        return [
            s
            for s in self.statements
            if s.lstrip().upper().startswith("SELECT")
            and "FROM access_events" in s
            and "ORDER BY access_events.seq" in s
            and "LIMIT" in s.upper()
        ]


@pytest.fixture
def statements(app: Any) -> Iterator[StatementLog]:
    log = StatementLog([])
    engine = app.state.runtime.engine.sync_engine

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        log.statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    yield log
    event.remove(engine, "before_cursor_execute", before)


async def test_large_export_returns_everything_page_by_page(
    client: httpx.AsyncClient, app: Any, issue: TokenFactory, statements: StatementLog
) -> None:
    auditor, shop = await issue("auditor"), await issue("storefront")
    await bulk_events(client, shop, 3)
    statements.statements.clear()
    lines = await export(client, auditor, {})
    stored = await access_events(app)
    assert len(stored) > 3000
    assert [line["seq"] for line in lines] == [e["seq"] for e in stored]
    pages = statements.page_queries()
    assert len(pages) >= len(stored) / 1000, len(pages)
    # filtered, the same: only the matching rows, still in pages
    statements.statements.clear()
    lines = await export(client, auditor, {"action": "customer.create"})
    assert len(lines) == 3000
    assert len(statements.page_queries()) >= 3


async def test_export_stream_memory_does_not_grow_with_the_log(
    client: httpx.AsyncClient, app: Any, issue: TokenFactory
) -> None:
    """Peak memory while consuming the export stream stays flat when the log doubles.

    Measured with tracemalloc in this process, directly on ``export_lines`` (the ASGI test
    transport buffers whole bodies, so a request cannot show it). The comparison is the same
    pipeline (query, ``EventOut``, JSON bytes) holding every event at once: that doubles with the
    log, the stream's peak must not grow by more than a fifth. (The stream peaks near two pages:
    the previous page's items are still referenced while the next page is fetched.)
    """
    shop = await issue("storefront")
    sessions = app.state.runtime.sessions
    flt = EventFilter()

    async def consume() -> int:
        count = 0
        async for chunk in export_lines(sessions, flt):
            count += chunk.count(b"\n")
        return count

    async def hold_all(total: int) -> int:
        async with sessions() as session:
            items, _ = await list_events(session, flt, total + 1, 0)
            await session.rollback()
        held = [orjson.dumps(i.model_dump(mode="json")) + b"\n" for i in items]
        return len(held)

    async def peak(run: Callable[[], Awaitable[int]], total: int) -> int:
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            assert await run() == total
            return tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()

    measured: list[tuple[int, int, int]] = []
    for _ in range(2):
        await bulk_events(client, shop, 2)
        total = len(await access_events(app))
        assert await consume() == total  # warm caches: compiled statements, pydantic, drivers
        streamed = await peak(consume, total)
        whole = await peak(functools.partial(hold_all, total), total)
        measured.append((total, streamed, whole))
    (small, streamed_small, whole_small), (big, streamed_big, whole_big) = measured
    assert big > 4000
    assert big > 1.9 * small
    assert whole_big > 1.7 * whole_small, measured  # holding everything grows with the log
    assert streamed_big < 1.2 * streamed_small, measured  # the stream does not
    assert streamed_big < 0.6 * whole_big, measured


# -- checkpoints and the public key -------------------------------------------------------------


async def public_key(client: httpx.AsyncClient, auditor: Issued) -> Ed25519PublicKey:
    r = await client.get("/v1/audit/public-key", headers=auditor.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["algorithm"] == "Ed25519"
    raw = base64.b64decode(body["public_key"], validate=True)
    assert len(raw) == 32
    key = Ed25519PublicKey.from_public_bytes(raw)
    pem_key = load_pem_public_key(body["pem"].encode())
    assert isinstance(pem_key, Ed25519PublicKey)
    assert pem_key.public_bytes(Encoding.Raw, PublicFormat.Raw) == raw
    assert body["key_id"] == hashlib.sha256(raw).hexdigest()[:16]
    return key


def verifies(key: Ed25519PublicKey, signature: bytes, statement: bytes) -> bool:
    try:
        key.verify(signature, statement)
    except InvalidSignature:
        return False
    return True


async def test_checkpoints_are_signed_by_the_published_key(
    client: httpx.AsyncClient, app: Any, world: World
) -> None:
    stored = await access_events(app)
    made = await app.state.runtime.checkpointer.checkpoint_now()
    assert made is not None
    assert await app.state.runtime.checkpointer.checkpoint_now() is None, "nothing moved"

    r = await client.get("/v1/audit/checkpoints", headers=world.auditor.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_cursor"] is None
    assert len(body["items"]) == 1
    cp = body["items"][0]
    assert {"seq", "events", "root_hash", "key_id", "signature", "heads", "at"} <= set(cp)
    assert cp["seq"] == stored[-1]["seq"]
    assert cp["events"] == len(stored)

    # the heads are the last event of every writer chain, as stored
    last_of: dict[str, dict[str, Any]] = {}
    for e in stored:
        last_of[str(e["writer_id"])] = e
    assert sorted(cp["heads"], key=lambda h: str(h["writer_id"])) == [
        {"writer_id": w, "writer_seq": e["writer_seq"], "seq": e["seq"], "hash": e["hash"].hex()}
        for w, e in sorted(last_of.items())
    ]
    root = bytes.fromhex(cp["root_hash"])
    assert heads_root(cp["heads"]) == root

    key = await public_key(client, world.auditor)
    r = await client.get("/v1/audit/public-key", headers=world.auditor.headers)
    assert cp["key_id"] == r.json()["key_id"]
    signature = bytes.fromhex(cp["signature"])
    at = datetime.fromisoformat(cp["at"])
    assert at.tzinfo is not None
    statement = checkpoint_statement(cp["seq"], root, at, cp["events"])
    assert verifies(key, signature, statement)

    flipped = bytearray(signature)
    flipped[7] ^= 0x01
    assert not verifies(key, bytes(flipped), statement)
    other_root = bytearray(root)
    other_root[0] ^= 0x80
    assert not verifies(
        key, signature, checkpoint_statement(cp["seq"], bytes(other_root), at, cp["events"])
    )
    assert not verifies(key, signature, checkpoint_statement(cp["seq"], root, at, cp["events"] + 1))


async def test_checkpoints_page_oldest_first(
    client: httpx.AsyncClient, app: Any, make_customer: MakeCustomer, world: World
) -> None:
    made = []
    for _ in range(3):
        await make_customer()
        cp = await app.state.runtime.checkpointer.checkpoint_now()
        assert cp is not None
        made.append(cp.seq)
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        r = await client.get("/v1/audit/checkpoints", params=params, headers=world.auditor.headers)
        assert r.status_code == 200, r.text
        seen += [c["seq"] for c in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    r = await client.get(
        "/v1/audit/checkpoints", params={"cursor": "!!"}, headers=world.auditor.headers
    )
    assert_problem(r, 422)


@pytest.mark.parametrize(
    "path", ["/v1/audit/checkpoints", "/v1/audit/public-key", "/v1/audit/verify"]
)
async def test_auditor_only_endpoints(
    client: httpx.AsyncClient, app: Any, admin: Issued, issue: TokenFactory, path: str
) -> None:
    auditor = await issue("auditor")
    r = await client.get(path, headers=auditor.headers)
    assert r.status_code == 200, r.text
    last = (await access_events(app))[-1]
    assert (last["action"], last["outcome"], str(last["principal_id"])) == (
        "audit." + path.rsplit("/", 1)[1].replace("-", "_"),
        "allowed",
        auditor.principal_id,
    )
    partner_id = await new_partner_id(client, admin)
    for role in ("dpo", *OTHER_ROLES):
        who = (
            admin
            if role == "admin"
            else await issue(role, partner_id=partner_id if role == "partner" else None)
        )
        assert_problem(await client.get(path, headers=who.headers), 403, "role_not_permitted")
    assert_problem(await client.get(path), 401)


# -- verify -----------------------------------------------------------------------------------


async def test_verify_fresh_log_then_tampered(
    client: httpx.AsyncClient, app: Any, world: World
) -> None:
    r = await client.get("/v1/audit/verify", headers=world.auditor.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    stored = await access_events(app)
    assert body["ok"] is True
    assert body["checked"] == len(stored), "every event, the verify request's own included"
    assert body["first_invalid_seq"] is None
    assert body["checkpoint"] is None, "no checkpoint yet"

    cp = await app.state.runtime.checkpointer.checkpoint_now()
    assert cp is not None
    r = await client.get("/v1/audit/verify", headers=world.auditor.headers)
    body = r.json()
    assert body["ok"] is True
    assert body["first_invalid_seq"] is None
    assert body["checked"] == len(await access_events(app))
    assert body["checkpoint"]["seq"] == cp.seq

    # tamper with one event in the middle: an employee's read becomes something else
    target = next(e for e in stored if e["action"] == "customer.read" and e["role"] == "employee")
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(AccessEvent)
            .where(AccessEvent.seq == target["seq"])
            .values(action="audit.events")
        )
        await session.commit()
    r = await client.get("/v1/audit/verify", headers=world.auditor.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is False
    assert body["first_invalid_seq"] == target["seq"]
    assert body["problem"]
    assert body["checked"] == len([e for e in stored if e["seq"] < target["seq"]])


# -- the access report ------------------------------------------------------------------------


async def new_partner_id(client: httpx.AsyncClient, admin: Issued, name: str | None = None) -> str:
    body = {"name": name or f"Đối Tác {uuid.uuid4().hex[:6]}", "contract_ref": "HD-MAU-001"}
    r = await client.post("/v1/partners", json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@dataclass
class ReportWorld:
    shop: Issued
    staff: Issued
    dpo: Issued
    courier: Issued
    customer: str
    other: str
    names: dict[str, str]


@pytest.fixture
async def report_world(
    client: httpx.AsyncClient, admin: Issued, issue: TokenFactory
) -> ReportWorld:
    shop = await issue("storefront", "cửa-hàng-trực-tuyến")
    staff = await issue("employee", "nhân-viên-chăm-sóc")
    dpo = await issue("dpo", "cán-bộ-dpo")
    partner_id = await new_partner_id(client, admin, PARTNER_NAME)
    now = datetime.now(UTC)
    r = await client.post(
        f"/v1/partners/{partner_id}/grants",
        json={
            "contract_ref": "HD-MAU-001",
            "purposes": ["order_fulfillment"],
            "fields": {"full_name": "plain", "phone": "plain", "address": "masked"},
            "valid_from": (now - timedelta(hours=1)).isoformat(),
            "valid_until": (now + timedelta(days=30)).isoformat(),
        },
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    courier = await issue("partner", "gh-mau-api", partner_id=partner_id)
    ids = []
    for _ in range(2):
        r = await client.post("/v1/customers", json=customer_body(), headers=shop.headers)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    customer, other = ids
    for cid in ids:
        r = await client.post(
            f"/v1/partners/{partner_id}/assignments",
            json={
                "customer_id": cid,
                "purpose": "order_fulfillment",
                "reference": "DH-000123",
                "expires_at": (now + timedelta(days=7)).isoformat(),
            },
            headers=shop.headers,
        )
        assert r.status_code == 201, r.text
    for cid in ids:
        r = await client.get(
            f"/v1/customers/{cid}", params={"purpose": "order_confirmation"}, headers=staff.headers
        )
        assert r.status_code == 200, r.text
        r = await client.get(
            f"/v1/customers/{cid}",
            params={"purpose": "customer_self_service"},
            headers=shop.headers,
        )
        assert r.status_code == 200, r.text
        r = await client.get(
            f"/v1/partner/customers/{cid}",
            params={"purpose": "order_fulfillment"},
            headers=courier.headers,
        )
        assert r.status_code == 200, r.text
    r = await client.get(
        f"/v1/customers/{customer}", params={"purpose": "marketing"}, headers=staff.headers
    )
    assert r.status_code == 403, r.text
    names = {
        shop.principal_id: "cửa-hàng-trực-tuyến",
        staff.principal_id: "nhân-viên-chăm-sóc",
        dpo.principal_id: "cán-bộ-dpo",
        courier.principal_id: PARTNER_NAME,  # partners are named by the partner's name
    }
    return ReportWorld(shop, staff, dpo, courier, customer, other, names)


def report_row(e: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {
        "at": e["at"],
        "role": e["role"],
        "actor": names[str(e["principal_id"])],
        "action": e["action"],
        "purpose": e["purpose"],
        "fields": list(e["fields"] or []),
        "outcome": e["outcome"],
        "reason": e["reason"],
    }


async def test_access_report_names_every_access_in_order(
    client: httpx.AsyncClient, app: Any, report_world: ReportWorld
) -> None:
    w = report_world
    path = f"/v1/customers/{w.customer}/access-report"
    for who in (w.shop, w.dpo):
        expected = [
            report_row(e, w.names) for e in await access_events(app, customer_id=w.customer)
        ]
        r = await client.get(path, headers=who.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["customer_id"] == w.customer
        assert body["next_cursor"] is None
        got = [{**i, "at": datetime.fromisoformat(i["at"])} for i in body["items"]]
        assert got == expected
        # the report request itself is logged, about this customer
        last = (await access_events(app))[-1]
        assert (last["action"], str(last["customer_id"]), str(last["principal_id"])) == (
            "customer.access_report",
            w.customer,
            who.principal_id,
        )
        assert last["outcome"] == "allowed"

    items = r.json()["items"]
    seen = [(i["role"], i["actor"], i["action"], i["purpose"], i["outcome"]) for i in items]
    assert seen[:1] == [
        ("storefront", "cửa-hàng-trực-tuyến", "customer.create", "registration", "allowed")
    ]
    assert (
        "employee",
        "nhân-viên-chăm-sóc",
        "customer.read",
        "order_confirmation",
        "allowed",
    ) in seen
    assert (
        "storefront",
        "cửa-hàng-trực-tuyến",
        "customer.read",
        "customer_self_service",
        "allowed",
    ) in seen
    partner_rows = [i for i in items if i["role"] == "partner"]
    assert partner_rows
    assert all(i["actor"] == PARTNER_NAME for i in partner_rows)
    assert any(i["outcome"] == "allowed" and i["fields"] for i in partner_rows)
    assert "gh-mau-api" not in r.text, "a partner is named by the partner, not its system"
    denied = [i for i in items if i["outcome"] == "denied"]
    assert [(i["actor"], i["action"], i["purpose"], i["reason"]) for i in denied] == [
        ("nhân-viên-chăm-sóc", "customer.read", "marketing", "consent_missing")  # docs/policy.md
    ]
    # the first report (by the storefront) is in the dpo's report
    assert ("storefront", "cửa-hàng-trực-tuyến", "customer.access_report", None, "allowed") in seen
    # nothing about the other customer, though the same principals touched it the same way
    assert len(partner_rows) == 1
    assert len(await access_events(app, role="partner", action="partner.customer.read")) == 2
    r = await client.get(f"/v1/customers/{w.other}/access-report", headers=w.dpo.headers)
    assert r.status_code == 200, r.text
    assert not any(i["outcome"] == "denied" for i in r.json()["items"])
    assert not any(i["action"] == "customer.access_report" for i in r.json()["items"])


async def test_access_report_pages(
    client: httpx.AsyncClient, app: Any, report_world: ReportWorld
) -> None:
    w = report_world
    path = f"/v1/customers/{w.customer}/access-report"
    expected = [report_row(e, w.names) for e in await access_events(app, customer_id=w.customer)]
    got: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        r = await client.get(path, params=params, headers=w.dpo.headers)
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) <= 2
        got += [{**i, "at": datetime.fromisoformat(i["at"])} for i in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    # each page call is logged about the customer, after the rows it read
    assert got[: len(expected)] == expected
    assert all(i["action"] == "customer.access_report" for i in got[len(expected) :])
    for bad in ({"limit": 0}, {"limit": 501}, {"cursor": "!!"}):
        assert_problem(await client.get(path, params=bad, headers=w.dpo.headers), 422)


async def test_access_report_unknown_customer_and_other_roles(
    client: httpx.AsyncClient,
    app: Any,
    admin: Issued,
    issue: TokenFactory,
    report_world: ReportWorld,
) -> None:
    w = report_world
    unknown = str(uuid.uuid4())
    for who in (w.shop, w.dpo):
        r = await client.get(f"/v1/customers/{unknown}/access-report", headers=who.headers)
        assert_problem(r, 404)
    path = f"/v1/customers/{w.customer}/access-report"
    callers = {
        "employee": w.staff,
        "partner": w.courier,
        "auditor": await issue("auditor"),
        "legal": await issue("legal"),
        "admin": admin,
    }
    for role, who in callers.items():
        before = len(await access_events(app))
        r = await client.get(path, headers=who.headers)
        assert_problem(r, 403, "role_not_permitted")
        assert "items" not in r.text
        new = (await access_events(app))[before:]
        assert [(e["action"], e["outcome"], str(e["customer_id"])) for e in new] == [
            ("customer.access_report", "denied", w.customer)
        ], role
    assert_problem(await client.get(path), 401)
    r = await client.get("/v1/customers/not-a-uuid/access-report", headers=w.dpo.headers)
    assert_problem(r, 422)
