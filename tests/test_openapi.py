"""The committed contract (openapi/openapi.json) must match what the app serves."""

from __future__ import annotations

import json
from pathlib import Path

from pdvault.config import Settings
from pdvault.main import create_app

COMMITTED = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def test_served_openapi_matches_committed() -> None:
    served = create_app(Settings(_env_file=None)).openapi()  # type: ignore[call-arg]
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert served == committed, "OpenAPI drifted: run `pdvault openapi > openapi/openapi.json`"


def test_every_operation_has_a_summary_and_documents_errors() -> None:
    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op.get("summary"), f"{method.upper()} {path} has no summary"
            if path.startswith("/v1/") and path != "/v1/policy":
                codes = set(op["responses"])
                assert {"401", "403"} <= codes, f"{method.upper()} {path} lacks 401/403"
