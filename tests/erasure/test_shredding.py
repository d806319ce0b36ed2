"""Proof of the shredding (R3.1): after erasure the person's values, their blind indexes, the
wrapped data key and the ciphertexts are nowhere in the stored database — the SQLite files
read byte by byte, or PostgreSQL's ``pg_dump`` — while their access events remain and verify.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.engine import make_url

from pdvault.customers import normalize, sealing
from pdvault.customers.models import Customer
from tests.conftest import Issued, access_events
from tests.rights_fixtures import Subject, SubjectFactory, approve_deletion, file_deletion


async def secrets_of(app: Any, s: Subject) -> dict[str, bytes]:
    """Every byte string that would betray the person: values, indexes, key, ciphertexts."""
    keys = app.state.runtime.keys
    email, phone = normalize.email(s.body["email"]), normalize.phone(s.body["phone"])
    found: dict[str, bytes] = {f"value {i}": v.encode() for i, v in enumerate(s.values)}
    found["email index"] = sealing.index_of(keys, "email", email)
    found["phone index"] = sealing.index_of(keys, "phone", phone)
    async with app.state.runtime.sessions() as session:
        row = await session.scalar(select(Customer).where(Customer.id == uuid.UUID(s.id)))
        assert row is not None
        for column in ("wrapped_dek", "full_name_ct", "phone_ct", "email_ct", "address_ct"):
            value = getattr(row, column)
            assert value, column
            found[column] = bytes(value)
    return found


def stored_bytes(database_url: str, engine_name: str) -> bytes:
    """What an attacker with the database's storage (or a dump of it) gets."""
    url = make_url(database_url)
    if engine_name == "sqlite":
        path = Path(str(url.database))
        files = [path, Path(f"{path}-wal"), Path(f"{path}-journal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    dump = subprocess.run(
        [
            "pg_dump",
            "--data-only",
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            str(url.database),
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return dump.stdout


def forms(secret: bytes, engine_name: str) -> list[bytes]:
    """How a value can appear: raw bytes, and in a dump bytea as hex, text as UTF-8."""
    out = [secret]
    if engine_name == "postgresql":
        out.append(secret.hex().encode())
    return out


def present(blob: bytes, secrets: dict[str, bytes], engine_name: str) -> list[str]:
    return [name for name, s in secrets.items() if any(f in blob for f in forms(s, engine_name))]


async def test_erasure_leaves_no_trace_in_storage(
    client: httpx.AsyncClient,
    app: Any,
    database_url: str,
    engine_name: str,
    subject: SubjectFactory,
    shop: Issued,
    staff: Issued,
    dpo: Issued,
    auditor: Issued,
) -> None:
    s = await subject()
    bystander = await subject()
    r = await client.get(
        f"/v1/customers/{s.id}", params={"purpose": "order_confirmation"}, headers=staff.headers
    )
    assert r.status_code == 200
    request = await file_deletion(client, shop, s.id, note="Ghi chú riêng " + s.id[-6:])
    secrets = await secrets_of(app, s)
    kept = await secrets_of(app, bystander)

    # Before: the ciphertexts, key and indexes are there (the scan can see what it seeks).
    before = stored_bytes(database_url, engine_name)
    visible = present(before, secrets, engine_name)
    assert {"wrapped_dek", "email_ct", "email index", "phone index"} <= set(visible), visible
    # Encrypted at rest: no plaintext value is stored, even before erasure.
    assert not [n for n in visible if n.startswith("value")], visible

    assert (await approve_deletion(client, dpo, request["id"])).status_code == 200

    after = stored_bytes(database_url, engine_name)
    assert present(after, secrets, engine_name) == []
    # The other customer is untouched (the scan would see a survivor).
    assert {"wrapped_dek", "email index"} <= set(present(after, kept, engine_name))

    events = await access_events(app, customer_id=s.id)
    assert {e["action"] for e in events} >= {"customer.create", "customer.read", "deletion.execute"}
    verify = await client.get("/v1/audit/verify", headers=auditor.headers)
    assert verify.json()["ok"] is True, verify.json()
