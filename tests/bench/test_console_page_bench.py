"""The console page bench (bench/console_page.py) at a tiny size: it seeds, signs an auditor
in, and answers every case of the audit bench with a page and a server time. No timing is
asserted (the figures come from the bench itself, on 1,000,000 events)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import console_page  # noqa: E402


def test_console_page_bench_measures_every_case_on_a_tiny_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_page, "REPEATS", 1)
    monkeypatch.setattr(console_page, "FOLLOW", 1)
    figures = console_page.bench_engine("sqlite", 2_000, "", tmp_path)
    pages = figures["pages"]
    assert figures["events"] == 2_000
    cases = {p["filter"] for p in pages}
    assert "no filter" in cases
    assert len(cases) == 15  # every filter of audit_log._cases
    assert any(p["page"] == "deep" for p in pages)
    assert any(p["page"] == "next x1" for p in pages)
    assert all(p["median_ms"] > 0 and p["max_ms"] >= p["median_ms"] for p in pages)
    unfiltered = [p for p in pages if p["filter"] == "no filter"]
    assert all(p["rows"] == 50 for p in unfiltered)
    assert not list(tmp_path.glob("*.sqlite3"))  # the database is removed afterwards
