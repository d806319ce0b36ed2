"""Public endpoints: liveness, readiness, metrics (docs/api.md "Public")."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import TokenFactory, customer_body


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.headers["x-request-id"]


async def test_readyz(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready"


def _sample(metrics: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels``."""
    total = 0.0
    found = False
    for line in metrics.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        match = re.match(r"^(\w+)(?:\{(.*)\})? ([0-9.eE+\-]+|NaN|\+Inf)$", line)
        assert match, line
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
            found = True
    assert found, (name, labels)
    return total


async def test_metrics_after_customer_read(
    client: httpx.AsyncClient,
    issue: TokenFactory,
) -> None:
    shop = await issue("storefront")
    employee = await issue("employee")
    body = customer_body(full_name="Lê Thị Chỉ Số", address="Số 99 Ngõ Đo Lường, Hà Nội")
    r = await client.post("/v1/customers", json=body, headers=shop.headers)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    r = await client.get(
        f"/v1/customers/{cid}", params={"purpose": "order_confirmation"}, headers=employee.headers
    )
    assert r.status_code == 200, r.text
    r = await client.get(
        f"/v1/customers/{cid}", params={"purpose": "marketing"}, headers=shop.headers
    )
    assert r.status_code == 403
    r = await client.post(
        "/v1/customers/search",
        json={"email": body["email"], "purpose": "order_confirmation"},
        headers=employee.headers,
    )
    assert r.status_code == 200, r.text

    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert "pdvault_http_requests_total" in text
    assert "pdvault_access_events_total" in text
    assert (
        _sample(
            text,
            "pdvault_http_requests_total",
            route="/v1/customers/{customer_id}",
            method="GET",
            status="200",
        )
        == 1
    )
    assert _sample(text, "pdvault_access_events_total", outcome="allowed") >= 3
    assert _sample(text, "pdvault_access_events_total", outcome="denied") >= 1

    for value in (
        cid,
        body["full_name"],
        body["email"],
        body["email"].split("@")[0],
        body["phone"],
        "+84" + body["phone"][1:],
        body["address"],
        "Chỉ Số",
        "Đo Lường",
        shop.token,
        employee.token,
    ):
        assert value not in text, value


async def test_metrics_show_the_database_pool_and_latency(
    client: httpx.AsyncClient, app: Any, engine_name: str
) -> None:
    assert (await client.get("/readyz")).status_code == 200
    text = (await client.get("/metrics")).text
    assert _sample(text, "pdvault_http_request_duration_seconds_count", route="/readyz") == 1
    assert _sample(text, "pdvault_db_pool_checked_out") == 0  # nothing lent between requests
    size = _sample(text, "pdvault_db_pool_size")
    if engine_name == "postgresql":
        assert size == app.state.runtime.settings.db_pool_size
    else:
        assert size >= 0
    async with app.state.runtime.engine.connect():
        held = (await client.get("/metrics")).text
        assert _sample(held, "pdvault_db_pool_checked_out") == 1
