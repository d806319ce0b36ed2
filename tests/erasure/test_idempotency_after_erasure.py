"""An erased customer's stored idempotent responses go with them (issue 14.7): a replay of
the create (or of a batch that held them) no longer answers the stored response, nor tells by
a 422 whether a guessed body was theirs; it is a new request."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from pdvault.idempotency import IdempotencyRecord
from tests.conftest import Issued, customer_body
from tests.rights_fixtures import approve_deletion, file_deletion


async def stored_bodies(app: Any) -> list[bytes]:
    async with app.state.runtime.sessions() as session:
        return [bytes(b) for b in await session.scalars(select(IdempotencyRecord.body))]


def fresh_body() -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    return customer_body(
        email=f"lap.lai.{tag}@example.com", phone=f"090{int(tag, 16) % 10_000_000:07d}"
    )


async def test_a_replay_after_erasure_no_longer_answers_the_stored_response(
    client: httpx.AsyncClient, app: Any, shop: Issued, dpo: Issued
) -> None:
    body, kept_body = fresh_body(), fresh_body()
    headers = {**shop.headers, "Idempotency-Key": "create-" + uuid.uuid4().hex}
    first = await client.post("/v1/customers", json=body, headers=headers)
    assert first.status_code == 201, first.text
    erased_id = first.json()["id"]
    replay = await client.post("/v1/customers", json=body, headers=headers)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["id"] == erased_id

    batch_headers = {**shop.headers, "Idempotency-Key": "batch-" + uuid.uuid4().hex}
    batch_body = {"items": [fresh_body()]}
    batch = await client.post("/v1/customers/batch", json=batch_body, headers=batch_headers)
    assert batch.status_code == 200, batch.text
    batch_id = batch.json()["results"][0]["id"]

    other_headers = {**shop.headers, "Idempotency-Key": "kept-" + uuid.uuid4().hex}
    kept = await client.post("/v1/customers", json=kept_body, headers=other_headers)
    assert kept.status_code == 201, kept.text

    for cid in (erased_id, batch_id):
        request = await file_deletion(client, shop, cid)
        assert (await approve_deletion(client, dpo, request["id"])).status_code == 200

    stored = await stored_bodies(app)
    assert not [b for b in stored if erased_id.encode() in b or batch_id.encode() in b]
    assert [b for b in stored if kept.json()["id"].encode() in b]  # others keep theirs

    # A different body under the erased one's key is no longer told apart (no 422 oracle).
    probe = await client.post("/v1/customers", json=fresh_body(), headers=headers)
    assert probe.status_code == 201, probe.text
    assert "Idempotent-Replayed" not in probe.headers
    # The batch's replay is a new request too: a new id, not the erased one.
    again = await client.post("/v1/customers/batch", json=batch_body, headers=batch_headers)
    assert again.status_code == 200, again.text
    assert "Idempotent-Replayed" not in again.headers
    assert again.json()["results"][0]["id"] != batch_id
    # Another customer's replay still answers as before.
    still = await client.post("/v1/customers", json=kept_body, headers=other_headers)
    assert still.headers.get("Idempotent-Replayed") == "true"
    assert still.json()["id"] == kept.json()["id"]
