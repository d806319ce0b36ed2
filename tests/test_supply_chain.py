"""The lock file pins what pyproject.toml asks for, and the pip-audit step fails on a known
vulnerability but only skips (saying so) when its advisory source is out of reach."""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _lock() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._\-]+)==([^\s;]+)", line.strip())
        assert match, f"not an exact pin: {line!r}"
        pins[canonicalize_name(match.group(1))] = Version(match.group(2))
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [
        Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]
    ]


def test_every_dependency_is_pinned_within_its_bounds() -> None:
    pins = _lock()
    assert "pdvault" not in pins
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} does not satisfy {requirement}"
        )


def test_ci_installs_with_the_lock() -> None:
    """The first install in a fresh venv takes the pins; the README's own command that runs
    the tests afterwards then finds everything satisfied and changes nothing."""
    script = (ROOT / ".ci" / "run").read_text()
    installs = [line for line in script.splitlines() if "pip install" in line and ".[dev]" in line]
    assert installs
    assert "-c requirements.lock" in installs[0], installs
    assert script.index("rm -rf .venv") < script.index(installs[0])


@pytest.fixture(scope="module")
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_deps", ROOT / ".ci" / "audit_deps.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["audit_deps"] = module
    spec.loader.exec_module(module)
    return module


def test_a_known_vulnerability_fails(audit: ModuleType) -> None:
    report = {
        "dependencies": [
            {"name": "fastapi", "version": "0.165.0", "vulns": []},
            {
                "name": "example-lib",
                "version": "1.0",
                "vulns": [{"id": "PYSEC-0000-1", "fix_versions": ["1.1"], "aliases": []}],
            },
        ],
        "fixes": [],
    }
    code, verdict = audit.judge(report, 1, "")
    assert code == 1
    assert "PYSEC-0000-1" in verdict
    assert "example-lib 1.0" in verdict
    assert "1.1" in verdict


def test_a_clean_audit_passes(audit: ModuleType) -> None:
    report = {
        "dependencies": [
            {"name": "fastapi", "version": "0.165.0", "vulns": []},
            {"name": "private", "version": "1", "skip_reason": "not on PyPI"},
        ]
    }
    assert audit.judge(report, 0, "") == (
        0,
        "pip-audit: 1 packages audited, no known vulnerabilities",
    )


@pytest.mark.parametrize(
    "stderr",
    [
        "requests.exceptions.ConnectionError: HTTPSConnectionPool(...): Max retries exceeded",
        "urllib3.exceptions.NameResolutionError: Failed to resolve",
        "timed out",
    ],
)
def test_an_unreachable_source_is_skipped_in_one_line(audit: ModuleType, stderr: str) -> None:
    code, verdict = audit.judge(None, 1, "Traceback ...\n" + stderr)
    assert code == 0
    assert verdict == "pip-audit: advisory source unreachable, skipped"


def test_nothing_audited_is_a_skip_not_a_pass(audit: ModuleType) -> None:
    report = {"dependencies": [{"name": "x", "version": "1", "skip_reason": "not found"}] * 3}
    code, verdict = audit.judge(report, 0, "")
    assert code == 0
    assert "unreachable" in verdict
    assert "skipped" in verdict


def test_any_other_failure_fails(audit: ModuleType) -> None:
    code, verdict = audit.judge(None, 2, "pip-audit: error: unrecognized arguments")
    assert code == 1
    assert "unrecognized arguments" in verdict
