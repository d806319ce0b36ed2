"""pip-audit over the installed environment: fail on a known vulnerability, carry on (saying so
in one line) when the advisory source cannot be reached.

    .venv/bin/python .ci/audit_deps.py              # audit .venv (what CI installed)
    .venv/bin/python .ci/audit_deps.py --report F   # judge a saved `pip-audit -f json` report

Exit 0: audited and clean, or skipped because the advisory source was unreachable.
Exit 1: a known vulnerability in an installed package (each printed with its fix versions).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 60
# What pip-audit and its HTTP stack print when the service cannot be reached at all.
UNREACHABLE_MARKERS = (
    "ConnectionError",
    "NewConnectionError",
    "NameResolutionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Connection refused",
    "timed out",
    "ProxyError",
    "SSLError",
)


def judge(report: dict[str, Any] | None, returncode: int, stderr: str) -> tuple[int, str]:
    """(exit code, one-line verdict) for a pip-audit run."""
    if report is None:
        if any(marker in stderr for marker in UNREACHABLE_MARKERS):
            return 0, "pip-audit: advisory source unreachable, skipped"
        tail = stderr.strip().splitlines()[-1:] or [f"exit {returncode}"]
        return 1, f"pip-audit failed without a report: {tail[0]}"
    deps = report.get("dependencies", [])
    vulnerable = [d for d in deps if d.get("vulns")]
    if vulnerable:
        lines = []
        for dep in vulnerable:
            for vuln in dep["vulns"]:
                fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
                lines.append(f"  {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
        count = sum(len(d["vulns"]) for d in vulnerable)
        return 1, f"pip-audit: {count} known vulnerabilities\n" + "\n".join(lines)
    audited = [d for d in deps if "skip_reason" not in d]
    if not audited:
        # Every lookup failed: the index answered nothing (offline mirror, blocked API).
        return (
            0,
            f"pip-audit: advisory source unreachable ({len(deps)} packages unchecked), skipped",
        )
    return 0, f"pip-audit: {len(audited)} packages audited, no known vulnerabilities"


def run_pip_audit() -> tuple[dict[str, Any] | None, int, str]:
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        command = [
            str(bin_dir / "pip-audit"),
            "--skip-editable",  # pdvault itself is not a published package
            "--progress-spinner",
            "off",
            "--timeout",
            "15",
            "--format",
            "json",
            "--output",
            str(out),
        ]
        try:
            done = subprocess.run(  # noqa: S603 - a fixed command line
                command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            return None, -1, "timed out"
        report = json.loads(out.read_text()) if out.exists() and out.stat().st_size else None
        return report, done.returncode, done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="judge this pip-audit JSON report")
    args = parser.parse_args()
    if args.report is not None:
        code, verdict = judge(json.loads(args.report.read_text()), 0, "")
    else:
        code, verdict = judge(*run_pip_audit())
    print(verdict)
    return code


if __name__ == "__main__":
    sys.exit(main())
