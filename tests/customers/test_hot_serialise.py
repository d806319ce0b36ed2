"""The hot routes' bodies, serialised once by orjson (``deps.hot_response``), are the bytes
FastAPI sent when it serialised the declared response model (issue 17, point 4)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.responses import JSONResponse

from pdvault.customers.schemas import CustomerOut, SearchOut
from pdvault.deps import hot_response
from pdvault.partners.schemas import PartnerCustomerOut

FIELDS = {"full_name": "Nguyễn Văn Mẫu", "phone": "+84900000001", "email": "a@example.com"}
TIMES = [
    datetime(2026, 12, 5, 7, 0, 0, tzinfo=UTC),
    datetime(2026, 12, 5, 7, 0, 0, 123456, tzinfo=UTC),
    datetime(2026, 12, 5, 7, 0, 0, 100, tzinfo=UTC),
]


def as_fastapi_sends(model: Any) -> bytes:
    """What FastAPI sent for a response_model: the model's JSON-mode dump, by JSONResponse."""
    return bytes(JSONResponse(model.model_dump(mode="json")).body)


@pytest.mark.parametrize("at", TIMES)
def test_a_customer_read_serialises_as_its_model(at: datetime) -> None:
    body = {
        "id": uuid.uuid4(),
        "purpose": "order_confirmation",
        "fields": FIELDS,
        "created_at": at,
        "updated_at": at,
        "version": 3,
    }
    assert hot_response(body).body == as_fastapi_sends(CustomerOut(**body))
    assert json.loads(hot_response(body).body)["created_at"].endswith("Z")


def test_a_partner_read_and_a_search_serialise_as_their_models() -> None:
    partner = {
        "id": uuid.uuid4(),
        "purpose": "order_fulfillment",
        "fields": {"full_name": "N. V. Mẫu", "phone": "*********001"},
        "masked": ["full_name", "phone"],
    }
    assert hot_response(partner).body == as_fastapi_sends(PartnerCustomerOut(**partner))
    search = {"items": [{"id": uuid.uuid4(), "fields": FIELDS}, {"id": uuid.uuid4(), "fields": {}}]}
    assert hot_response(search).body == as_fastapi_sends(SearchOut(**search))
    assert hot_response({"items": []}).body == as_fastapi_sends(SearchOut(items=[]))


def test_the_drivers_own_uuids_serialise_as_uuids() -> None:
    """asyncpg returns its own UUID subclass, which orjson does not serialise by itself."""
    pgproto = pytest.importorskip("asyncpg.pgproto.pgproto")
    plain = uuid.uuid4()
    body = {"items": [{"id": pgproto.UUID(str(plain)), "fields": {}}]}
    assert hot_response(body).body == as_fastapi_sends(
        SearchOut(items=[{"id": plain, "fields": {}}])
    )
