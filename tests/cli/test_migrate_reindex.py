"""``pdvault migrate`` runs the email-index rebuild a migration asked for, with the keys, and
names colliding customers by id only; ``pdvault serve`` refuses to start until it has."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from pdvault.config import Settings
from pdvault.crypto.blind_index import blind_index
from pdvault.crypto.provider import LocalKeyProvider
from pdvault.customers import sealing
from pdvault.customers.models import Customer
from pdvault.customers.reindex import EMAIL_REINDEX
from pdvault.db import make_engine, new_id
from pdvault.upgrades import DataUpgrade, pending_in
from tests.cli.test_token_commands import Runtime, runtime  # noqa: F401 - a fixture
from tests.helpers import free_port

EMAILS = ["Lan.Mau@example.com", "lan.mau@example.com", "Hoa.Mau@example.com"]


def _settings(v: Runtime) -> Settings:
    return Settings(
        data_dir=v.root / "data",
        database_url=v.env.get("PDVAULT_DATABASE_URL"),
        _env_file=None,  # type: ignore[call-arg]
    )


async def _seed_old_style(settings: Settings) -> list[uuid.UUID]:
    """Customers written before matching ignored case, and the migration's request."""
    keys = LocalKeyProvider.from_file(settings.keyring_path)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for n, email in enumerate(EMAILS):
        cid = new_id()
        row = await sealing.seal_new(
            keys,
            cid,
            {"full_name": "Mẫu", "phone": "+84912000222", "email": email, "address": "Hà Nội"},
        )
        row.update(
            id=cid,
            email_bidx=blind_index(keys.index_key(), "email", email),
            created_at=t0 + timedelta(minutes=n),
            updated_at=t0,
            version=1,
            policy_version="2024-01",
        )
        rows.append(row)
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(Customer.__table__), rows)
            await conn.execute(
                insert(DataUpgrade.__table__), [{"name": EMAIL_REINDEX, "requested_at": t0}]
            )
    finally:
        await engine.dispose()
    return [r["id"] for r in rows]


def test_serve_refuses_until_migrate_rebuilds_and_reports_by_id(runtime: Runtime) -> None:  # noqa: F811
    settings = _settings(runtime)
    ids = asyncio.run(_seed_old_style(settings))

    refused = runtime.run("serve", "--port", str(free_port()))
    assert refused.code != 0
    assert len(refused.err_lines) == 1, refused.err
    assert "pending" in refused.err_lines[0]
    assert "pdvault migrate" in refused.err_lines[0]

    migrated = runtime.run("migrate")
    assert migrated.code == 0, migrated.err
    out = migrated.out
    assert "rebuilt for 3 customers" in out
    assert f"{ids[0]} keeps; {ids[1]} left out" in out
    assert str(ids[2]) not in out
    assert "mau" not in out.lower()
    assert "example" not in out
    assert asyncio.run(pending_in(settings)) == []

    # Nothing pending: a second migrate reads no customer; asked for, it lists what remains.
    quiet = runtime.run("migrate")
    assert quiet.code == 0, quiet.err
    assert "rebuilt" not in quiet.out
    asked = runtime.run("migrate", "--reindex-emails")
    assert asked.code == 0, asked.err
    assert f"{ids[0]} keeps; {ids[1]} left out" in asked.out
