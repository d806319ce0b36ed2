"""A restore from backup must not bring erased customers back (issue 14.3).

Putting a customer's pre-erasure row back (what restoring the customer tables does) makes the
API serve the full record again: the key-encryption key still unwraps the old data key. The
erasure ledger lives outside the customer tables (executed deletion requests, and the access
log's ``deletion.execute`` events), so ``pdvault audit verify`` warns, and ``pdvault erasure
reapply --since`` re-shreds; run again, it changes nothing. The commands run for real.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from pdvault.crypto.keyring import Keyring
from pdvault.customers.models import Customer
from tests.audit.test_cli import Cli
from tests.conftest import Issued, access_events
from tests.rights_fixtures import SubjectFactory, approve_deletion, file_deletion

KEY_COLUMNS = (
    "kek_version",
    "wrapped_dek",
    "full_name_ct",
    "phone_ct",
    "email_ct",
    "address_ct",
    "email_bidx",
    "phone_bidx",
    "erased_at",
    "updated_at",
    "version",
)


@pytest.fixture
def cli(database_url: str, keyring: Keyring, tmp_path: Path) -> Cli:
    return Cli(database_url, keyring, tmp_path)


async def snapshot(app: Any, customer_id: str) -> dict[str, Any]:
    """The customer's row as a backup holds it."""
    async with app.state.runtime.sessions() as session:
        row = await session.scalar(select(Customer).where(Customer.id == uuid.UUID(customer_id)))
        assert row is not None
        return {c: getattr(row, c) for c in KEY_COLUMNS}


async def restore(app: Any, customer_id: str, values: dict[str, Any]) -> None:
    """Put the backed-up row back over the tombstone (the restore of the customer tables)."""
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(Customer).where(Customer.id == uuid.UUID(customer_id)).values(**values)
        )
        await session.commit()


async def read(client: httpx.AsyncClient, staff: Issued, customer_id: str) -> httpx.Response:
    return await client.get(
        f"/v1/customers/{customer_id}",
        params={"purpose": "order_confirmation"},
        headers=staff.headers,
    )


async def test_reapply_reshreds_a_restored_customer_and_verify_warns_before(
    client: httpx.AsyncClient,
    app: Any,
    subject: SubjectFactory,
    shop: Issued,
    staff: Issued,
    dpo: Issued,
    cli: Cli,
) -> None:
    s = await subject()
    bystander = await subject()
    backup = await snapshot(app, s.id)
    before_erasure = datetime.now(UTC) - timedelta(seconds=1)

    request = await file_deletion(client, shop, s.id)
    assert (await approve_deletion(client, dpo, request["id"])).status_code == 200
    assert (await read(client, staff, s.id)).status_code == 410

    await restore(app, s.id, backup)
    # The bug: the restored row is served in full, the old data key still unwraps.
    served = await read(client, staff, s.id)
    assert served.status_code == 200, served.text
    assert served.json()["fields"]["full_name"] == s.body["full_name"]

    # The nightly verify sees it: the log says erased, the row holds key material.
    verify = await cli.run("audit", "verify")
    assert verify.code == 0, verify
    assert "hold key material" in verify.err
    assert "erasure reapply --since" in verify.err
    as_json = json.loads((await cli.run("audit", "verify", "--json")).out)
    assert [e["customer_id"] for e in as_json["erased_with_keys"]] == [s.id]

    since = before_erasure.isoformat().replace("+00:00", "Z")
    done = await cli.run("erasure", "reapply", "--since", since)
    assert done.code == 0, done
    assert "re-shredded 1" in done.out
    assert "storage settled" in done.out

    assert (await read(client, staff, s.id)).status_code == 410
    after = await snapshot(app, s.id)
    assert all(after[c] is None for c in KEY_COLUMNS[:8]), after
    assert after["erased_at"] is not None
    assert (await read(client, staff, bystander.id)).status_code == 200

    # Safe to re-run: nothing left to shred, nothing logged again.
    again = await cli.run("erasure", "reapply", "--since", since)
    assert again.code == 0, again
    assert "re-shredded 0" in again.out
    reapplied = await access_events(app, customer_id=s.id, action="deletion.reapply")
    assert len(reapplied) == 1
    assert reapplied[0]["principal_id"] is None
    assert reapplied[0]["basis"] == f"deletion_request:{request['id']}"

    clean = await cli.run("audit", "verify", "--json")
    assert clean.code == 0, clean
    assert json.loads(clean.out)["erased_with_keys"] == []
    assert json.loads(clean.out)["ok"] is True


async def test_reapply_takes_ids_kept_outside_and_ignores_erasures_before_since(
    client: httpx.AsyncClient,
    app: Any,
    subject: SubjectFactory,
    shop: Issued,
    staff: Issued,
    dpo: Issued,
) -> None:
    """A whole-database restore loses the ledger's later entries too: the operator's own list
    (``--customer``) covers them; an erasure before ``--since`` is not the restore's."""
    old, listed = await subject(), await subject()
    backups = {c.id: await snapshot(app, c.id) for c in (old, listed)}
    for c in (old, listed):
        request = await file_deletion(client, shop, c.id)
        assert (await approve_deletion(client, dpo, request["id"])).status_code == 200
    for c in (old, listed):
        await restore(app, c.id, backups[c.id])
    later = datetime.now(UTC) + timedelta(minutes=1)

    from pdvault.erasure.ops import reapply_erasures

    runtime = app.state.runtime
    async with runtime.sessions() as session:
        report = await reapply_erasures(
            runtime.engine, session, runtime.audit, later, [uuid.UUID(listed.id)]
        )
    assert (report.checked, report.reshredded, report.settled) == (1, 1, True)
    assert (await read(client, staff, listed.id)).status_code == 410
    assert (await read(client, staff, old.id)).status_code == 200


async def test_a_bad_since_is_one_line(cli: Cli) -> None:
    result = await cli.run("erasure", "reapply", "--since", "yesterday")
    assert result.code == 2
    assert "ISO 8601" in result.err
