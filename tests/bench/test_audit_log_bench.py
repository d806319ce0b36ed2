"""bench/audit_log.py at a tiny size: the seeded log verifies (full, then incremental over the
last day's events), every filtered page comes back with only matching events, and every figure
is produced. On each engine (PostgreSQL when the test server is configured); no timing is
asserted (the figures come from the real run, docs/performance.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import audit_log  # noqa: E402

POSTGRES_URL = os.environ.get("PDVAULT_TEST_POSTGRES_URL", "")
# Needs no test database (each engine gets a bench database of its own), so it runs with the
# tests that take no engine, on SQLite and, when the test server is configured, PostgreSQL.
ENGINES = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


@pytest.mark.parametrize("engine", ENGINES)
def test_audit_log_bench_smoke(engine: str, tmp_path: Path) -> None:
    figures = audit_log.bench_engine(engine, 900, POSTGRES_URL, tmp_path)
    assert figures["events"] == 900
    assert [run["events_checked"] for run in figures["verify_full"]] == [900, 900]
    day = figures["verify_incremental_day"]
    assert (day["mode"], day["events_checked"], day["to_seq"]) == ("incremental", 30, 900)
    assert figures["verify_incremental_nothing_new"]["events_checked"] == 0
    names = {p["filter"] for p in figures["pages"]}
    assert {"no filter", "role=legal (0.5%)", "a day 15 days ago, role=dpo"} <= names
    assert {p["page"] for p in figures["pages"]} == {"first", "deep", "last"}
    assert all(p["median_ms"] >= 0 for p in figures["pages"])
    assert any(p["rows"] == audit_log.PAGE for p in figures["pages"])
    assert (len(figures["plans"]) > 0) == (engine == "postgresql")
