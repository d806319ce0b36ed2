"""docs/security.md names a test for every threat: every file and test it names must exist,
and every table row must name at least one test or CI step."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "security.md"
REF = re.compile(r"`((?:tests|\.ci)/[^`:]+?)(?:::([A-Za-z0-9_]+))?`")
CONTINUED = re.compile(r"`::([A-Za-z0-9_]+)`")


def _rows() -> list[str]:
    """The rows of the STRIDE tables (from "## Spoofing" to the residual risks)."""
    text = DOC.read_text(encoding="utf-8")
    tables = text[text.index("## Spoofing") : text.index("## Out of scope")]
    return [
        line
        for line in tables.splitlines()
        if line.startswith("| ") and not line.startswith(("| threat", "| ---"))
    ]


def test_every_named_test_exists() -> None:
    checked = 0
    for row in _rows():
        current: Path | None = None
        for match in re.finditer(r"`[^`]+`", row):
            token = match.group(0)
            ref = REF.fullmatch(token)
            cont = CONTINUED.fullmatch(token)
            if ref:
                current = ROOT / ref.group(1).split(" ")[0]
                assert current.exists(), f"{token}: no such file or folder"
                name = ref.group(2)
            elif cont and current is not None:
                name = cont.group(1)
            else:
                continue
            if name is not None:
                source = current.read_text(encoding="utf-8")
                assert re.search(rf"def {name}\(", source), f"{token}: no such test in {current}"
                checked += 1
    assert checked >= 40


def test_every_threat_names_a_test_or_a_ci_step() -> None:
    rows = [r for r in _rows() if r.count("|") >= 4 and "`" in r]
    assert len(rows) >= 30
    for row in rows:
        last = row.rstrip(" |").rsplit("|", 1)[1]
        assert "`tests/" in last or "`.ci/" in last or "`::" in last, row
