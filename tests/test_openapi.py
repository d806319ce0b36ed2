"""The committed contract (openapi/openapi.json) must match what the app serves."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute

from pdvault.config import Settings
from pdvault.errors import Forbidden, problem_body
from pdvault.main import ROUTERS, create_app

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


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        resolved: dict[str, Any] = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        return resolved
    return schema


def _has_example(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    schema = _resolve(doc, schema)
    if schema.get("examples") or schema.get("example"):
        return True
    items = schema.get("properties", {}).get("items")
    if isinstance(items, dict) and isinstance(items.get("items"), dict):
        return _has_example(doc, items["items"])
    return False


def test_partner_and_judicial_operations_show_fake_examples() -> None:
    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    checked = 0
    for path, item in doc["paths"].items():
        if not path.startswith(("/v1/partner", "/v1/judicial-requests")):
            continue
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                assert body.get("example") or _has_example(doc, body["schema"]), (method, path)
            ok = next(c for c in op["responses"] if c.startswith("2"))
            out = op["responses"][ok]["content"]["application/json"]["schema"]
            assert _has_example(doc, out), f"{method.upper()} {path} response has no example"
            checked += 1
    assert checked >= 15
    # Fake data only: examples use example.com, never the controller's real contact details.
    examples = json.dumps(
        [s.get("examples") for s in doc["components"]["schemas"].values()], ensure_ascii=False
    )
    assert "example.com" in examples
    assert "tomexco" not in examples
    assert "0912 853 984" not in examples


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op) for path, item in doc["paths"].items() for method, op in item.items()
    ]


def test_schema_names_are_plain_and_unique() -> None:
    """Two models of one class name in different modules would be named after their module
    paths (``pdvault__subjects__schemas__RejectIn``), which generators turn into duplicates."""
    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    names = list(doc["components"]["schemas"])
    assert [n for n in names if "__" in n or not re.fullmatch(r"[A-Z][A-Za-z0-9]*", n)] == []
    assert {"AccessRejectIn", "DeletionRejectIn", "JudicialRejectIn", "Problem"} <= set(names)
    titles = [s.get("title", n) for n, s in doc["components"]["schemas"].items()]
    assert len(set(titles)) == len(titles), "two schemas share a title: a generator's class name"


def test_operation_ids_are_the_route_functions_names_and_unique() -> None:
    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    functions = {
        (method.lower(), route.path): route.endpoint.__name__
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and route.include_in_schema
        for method in route.methods
    }
    ids = {(method, path): op["operationId"] for method, path, op in _operations(doc)}
    assert ids == functions
    assert len(set(ids.values())) == len(ids), "an operation id is used twice"
    assert ids[("get", "/v1/customers/{customer_id}")] == "read_customer"


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _walk(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{where}/{i}")


def test_every_error_response_refers_to_the_one_problem_schema() -> None:
    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    errors = 0
    for method, path, op in _operations(doc):
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            errors += 1
            assert response["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}, (
                f"{method.upper()} {path} {status}"
            )
    assert errors > 400
    # No inline copy anywhere else in the document: the problem members appear once.
    shaped = [
        where
        for where, node in _walk(doc)
        if isinstance(node.get("properties"), dict)
        and {"type", "title", "status", "detail"} <= set(node["properties"])
    ]
    assert shaped == ["/components/schemas/Problem"]
    problem = doc["components"]["schemas"]["Problem"]
    members = {"type", "title", "status", "detail", "instance", "reason", "errors"}
    assert members <= set(problem["properties"])
    assert problem["required"] == ["type", "title", "status", "detail"]
    assert problem["additionalProperties"] is True


def test_the_problem_schema_holds_what_the_handlers_write() -> None:
    """Every member a problem body is given in src/ is documented (RFC 9457 lets a client
    ignore unknown members; documenting ours lets a generated client read them)."""
    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    documented = set(doc["components"]["schemas"]["Problem"]["properties"])
    body = Forbidden("Not allowed.", reason="purpose_not_permitted", allowed_purposes=["a"])
    validation = problem_body(422, "x", slug="validation_error", errors=[], errors_omitted=3)
    assert set(body.to_body()) | set(validation) <= documented


def test_the_audit_export_documents_its_line_format() -> None:
    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    ok = doc["paths"]["/v1/audit/events/export"]["get"]["responses"]["200"]
    assert list(ok["content"]) == ["application/x-ndjson"]
    media = ok["content"]["application/x-ndjson"]
    assert media["schema"]["type"] == "string"
    assert "EventOut" in ok["description"]
    event = doc["components"]["schemas"]["EventOut"]
    lines = media["example"].splitlines(keepends=True)
    assert len(lines) == 2
    for line in lines:
        assert line.endswith("\n")
        assert set(json.loads(line)) == set(event["properties"])
