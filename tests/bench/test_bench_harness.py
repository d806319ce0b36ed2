"""The benchmark's own logic, without a load: the lean baseline answers in pdvault's shapes
and takes nothing of pdvault but the engine; the verdicts are issue 17's targets; the smoke
check names every missing figure. No timing is asserted (the figures come from bench/run.py).
"""

from __future__ import annotations

import ast
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from pdvault.customers.schemas import CustomerOut, SearchHit, SearchOut
from pdvault.partners.schemas import PartnerCustomerOut

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import lean_app  # noqa: E402
from perf.report import missing_figures, table, verdicts  # noqa: E402
from plain_table import metadata, plain_customers  # noqa: E402

ROW = {
    "id": uuid.UUID("0190f3a0-0000-7000-8000-000000000001"),
    "full_name": "Nguyen Van Mau",
    "phone": "+84900000001",
    "email": "khach.mau@example.com",
    "address": "So 1 Duong Vi Du, Ha Noi",
    "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
    "version": 1,
}


@pytest.fixture
def lean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    path = tmp_path / "plain.sqlite3"
    sync = create_engine(f"sqlite:///{path}")
    metadata.create_all(sync)
    with sync.begin() as conn:
        conn.execute(plain_customers.insert(), [ROW])
    sync.dispose()
    monkeypatch.setenv("BENCH_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    with TestClient(lean_app.create_app()) as client:
        yield client


def test_lean_baseline_answers_in_pdvault_shapes(lean: TestClient) -> None:
    cid = str(ROW["id"])
    read = lean.get(f"/v1/customers/{cid}", params={"purpose": "order_confirmation"}).json()
    assert set(read) == set(CustomerOut.model_fields)
    assert read["fields"]["phone"] == ROW["phone"]
    assert read["version"] == 1
    partner = lean.get(f"/v1/partner/customers/{cid}", params={"purpose": "order_fulfillment"})
    assert set(partner.json()) == set(PartnerCustomerOut.model_fields)
    found = lean.post(
        "/v1/customers/search", json={"phone": ROW["phone"], "purpose": "order_confirmation"}
    ).json()
    assert set(found) == set(SearchOut.model_fields)
    assert [set(hit) for hit in found["items"]] == [set(SearchHit.model_fields)]
    assert lean.get(f"/v1/customers/{uuid.uuid4()}", params={"purpose": "x"}).status_code == 404
    assert lean.get("/healthz").json() == {"status": "ok"}


def test_lean_baseline_takes_only_the_engine_from_pdvault() -> None:
    """No session, session class or read-session machinery: the engine factory and the
    engine option that keeps SQLite's begin hook from taking the write lock."""
    tree = ast.parse((BENCH / "lean_app.py").read_text())
    taken = {
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pdvault")
        for alias in node.names
    }
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.startswith("pdvault")
    }
    assert taken == {("pdvault.db", "make_engine"), ("pdvault.db", "PER_STATEMENT")}
    assert not imported


def _figures(rps: float, p99: float = 10.0) -> dict[str, Any]:
    return {"rps": rps, "p50_ms": 1.0, "p95_ms": 5.0, "p99_ms": p99, "cpu_us_per_request": 100}


def _kind(vault: float, healthz: float, lean: float | None, p99: float = 10.0) -> dict[str, Any]:
    r: dict[str, Any] = {"vault": _figures(vault, p99), "healthz": _figures(healthz)}
    r["healthz_ratio"], r["healthz_round_ratios"] = vault / healthz, [vault / healthz]
    if lean is not None:
        r["lean"] = _figures(lean)
        r["lean_ratio"], r["lean_round_ratios"] = vault / lean, [vault / lean]
        r["lean_cpu_ratio"] = 1.0
    return r


def _doc(engine: str, read_p99: float = 10.0) -> dict[str, Any]:
    reads = {
        "read": _kind(2_100, 10_000, 3_000, read_p99),  # 0.21 x healthz, 0.70 x lean
        "partner": _kind(1_400, 10_000, 2_000),  # 0.14: below 0.15
        "search": _kind(1_600, 10_000, 2_000),
        "audit": _kind(500, 10_000, None),
    }
    create = {"vault": _figures(300)}
    sizes = {"10000": {"customers": 10_000, "workers": 2, "reads": reads, "create": create}}
    return {"engines": {engine: {"sizes": sizes, "scale": None}}}


def test_verdicts_are_issue_17_targets_per_engine() -> None:
    pg = verdicts(_doc("postgresql", read_p99=60.0))["postgresql"]
    assert pg == {
        "10000 read x /healthz": True,
        "10000 partner x /healthz": False,
        "10000 search x /healthz": True,
        "10000 read x lean": True,
        "10000 read p99": False,
    }
    assert verdicts(_doc("sqlite"))["sqlite"] == {"10000 read x /healthz": True}
    rendered = table(_doc("postgresql"))
    assert "x lean >= 0.6 **met**" in rendered
    assert "x /healthz >= 0.15 **missed**" in rendered


def test_smoke_check_names_each_missing_comparison() -> None:
    doc = _doc("postgresql")
    assert missing_figures(doc, {"reads"}, [10_000], old_baseline=False) == []
    del doc["engines"]["postgresql"]["sizes"]["10000"]["reads"]["search"]["lean"]
    missing = missing_figures(doc, {"reads"}, [10_000], old_baseline=True)
    assert set(missing) == {
        "postgresql 10000 search lean",
        *(
            f"postgresql 10000 {kind} old_baseline"
            for kind in ("read", "partner", "search", "audit")
        ),
        *(
            f"postgresql 10000 {kind} old_baseline ratio"
            for kind in ("read", "partner", "search", "audit")
        ),
    }
