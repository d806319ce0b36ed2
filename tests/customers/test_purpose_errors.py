"""Purpose refusals that teach (issue 15.3): a typo, an unknown and a missing purpose keep the
reason code ``purpose_not_permitted`` but say which fault it is, name the purposes this role may
use here and point at ``/v1/policy``; the OpenAPI lists the purposes as an enum, yet an unknown
value is still this 403 (logged), not a 422."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from pdvault.policy import Access, Role
from tests.conftest import Issued
from tests.customers.conftest import customer_events
from tests.helpers import assert_problem

EMPLOYEE_READS = [
    "order_confirmation",
    "product_consultation",
    "product_information",
    "marketing",
    "special_case_support",
    "legal_notice",
]


def test_purposes_for_follows_the_rule_table() -> None:
    from pdvault.policy.explain import purposes_for

    assert list(purposes_for([Role.EMPLOYEE], Access.READ)) == EMPLOYEE_READS
    assert list(purposes_for([Role.STOREFRONT, Role.DPO], Access.WRITE)) == [
        "customer_self_service",
        "data_subject_request",
    ]
    assert list(purposes_for([Role.PARTNER], Access.READ)) == ["order_fulfillment"]
    assert list(purposes_for([Role.EMPLOYEE], Access.DOCUMENTS)) == ["accounting"]
    assert list(purposes_for([Role.ADMIN], Access.READ)) == []


def _teaches(problem: dict[str, Any], fault: str, allowed: list[str]) -> None:
    assert problem["reason"] == "purpose_not_permitted"
    assert fault in problem["detail"], problem
    assert "/v1/policy" in problem["detail"], problem
    for purpose in allowed:
        assert purpose in problem["detail"], (purpose, problem)
    assert problem["allowed_purposes"] == allowed
    assert problem["policy"] == "/v1/policy"


@pytest.fixture
async def cid(make_customer: Callable[..., Awaitable[str]]) -> str:
    return await make_customer()


async def test_a_typo_is_an_unknown_purpose_with_a_suggestion(
    client: httpx.AsyncClient, staff: Issued, cid: str, app: Any
) -> None:
    r = await client.get(
        f"/v1/customers/{cid}", params={"purpose": "order_confirmaton"}, headers=staff.headers
    )
    problem = assert_problem(r, 403, "purpose_not_permitted")
    _teaches(problem, "unknown purpose", EMPLOYEE_READS)
    assert "did you mean order_confirmation" in problem["detail"]
    assert "order_confirmaton" not in r.text  # the submitted value is never echoed
    denied = await customer_events(app, action="customer.read", outcome="denied")
    assert [e["reason"] for e in denied] == ["purpose_not_permitted"]


async def test_an_unknown_purpose_is_a_403_not_a_422(
    client: httpx.AsyncClient, staff: Issued, cid: str
) -> None:
    r = await client.get(
        f"/v1/customers/{cid}", params={"purpose": "just_curious"}, headers=staff.headers
    )
    problem = assert_problem(r, 403, "purpose_not_permitted")
    _teaches(problem, "unknown purpose", EMPLOYEE_READS)
    assert "did you mean" not in problem["detail"]


async def test_a_missing_purpose_says_so(
    client: httpx.AsyncClient, staff: Issued, cid: str
) -> None:
    r = await client.get(f"/v1/customers/{cid}", headers=staff.headers)
    problem = assert_problem(r, 403, "purpose_not_permitted")
    _teaches(problem, "missing purpose", EMPLOYEE_READS)
    assert "?purpose=" in problem["detail"]


async def test_a_purpose_for_another_kind_of_access(
    client: httpx.AsyncClient, staff: Issued, cid: str
) -> None:
    r = await client.get(
        f"/v1/customers/{cid}", params={"purpose": "registration"}, headers=staff.headers
    )
    problem = assert_problem(r, 403, "purpose_not_permitted")
    _teaches(problem, "registration does not allow reading", EMPLOYEE_READS)


async def test_search_without_purpose_names_the_body_field(
    client: httpx.AsyncClient, shop: Issued
) -> None:
    r = await client.post(
        "/v1/customers/search", json={"email": "khach.mau@example.com"}, headers=shop.headers
    )
    problem = assert_problem(r, 403, "purpose_not_permitted")
    _teaches(problem, "missing purpose", ["customer_self_service", "legal_notice"])
    assert '"purpose"' in problem["detail"]


async def test_patch_lists_the_write_purposes(
    client: httpx.AsyncClient, shop: Issued, cid: str
) -> None:
    r = await client.patch(
        f"/v1/customers/{cid}",
        params={"purpose": "self_service"},
        json={"address": "Số 2 Đường Ví Dụ, Hà Nội"},
        headers={**shop.headers, "If-Match": '"1"'},
    )
    problem = assert_problem(r, 403, "purpose_not_permitted")
    _teaches(problem, "unknown purpose", ["customer_self_service"])


async def test_document_read_lists_the_document_purposes(
    client: httpx.AsyncClient, staff: Issued, cid: str
) -> None:
    r = await client.get(
        f"/v1/customers/{cid}/documents/{uuid.uuid4()}",
        params={"purpose": "acounting"},
        headers=staff.headers,
    )
    problem = assert_problem(r, 403, "purpose_not_permitted")
    _teaches(problem, "unknown purpose", ["accounting"])
    assert "did you mean accounting" in problem["detail"]


async def test_openapi_lists_the_purposes_as_an_enum(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()

    def enum_of(path: str, method: str) -> list[str]:
        params = doc["paths"][path][method]["parameters"]
        (purpose,) = [p for p in params if p["name"] == "purpose"]
        assert purpose["schema"]["type"] == "string"
        return list(purpose["schema"]["enum"])

    reads = enum_of("/v1/customers/{customer_id}", "get")
    assert set(EMPLOYEE_READS) < set(reads)
    assert "order_fulfillment" not in reads  # no role of this operation may use it
    assert enum_of("/v1/customers/{customer_id}", "patch") == [
        "customer_self_service",
        "data_subject_request",
    ]
    assert enum_of("/v1/customers/{customer_id}/documents/{document_id}", "get") == [
        "customer_self_service",
        "accounting",
    ]
    assert enum_of("/v1/partner/customers/{customer_id}", "get") == ["order_fulfillment"]
    search = doc["components"]["schemas"]["SearchIn"]["properties"]["purpose"]
    assert "order_confirmation" in search["enum"]
