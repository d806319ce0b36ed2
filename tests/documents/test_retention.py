"""Shredding: with the customer (no retention left) and by the sweep (retention ended).

Erasure is the lead's endpoint; here it is simulated as the brief describes: the shredding
call the erasure makes, then the customer's key, ciphertexts and indexes nulled and
``erased_at`` set, in one transaction.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert, select, update

from pdvault.crypto.keyring import Keyring
from pdvault.customers.models import Customer
from pdvault.db import new_id, utcnow
from pdvault.documents.models import Document
from pdvault.documents.service import (
    documents_metadata,
    shred_unretained_documents,
    sweep_expired,
)
from pdvault.judicial.models import JudicialRequest, JudicialRequestCustomer
from tests.conftest import Issued, access_events
from tests.documents.conftest import MARKER, PDF, Download, Upload, document_events
from tests.helpers import Result, assert_problem, cli_env, invoke_cli, spawn_cli

MakeCustomer = Callable[..., Awaitable[str]]


async def stored(upload: Upload, shop: Issued, cid: str, kind: str = "invoice") -> str:
    r = await upload(shop, cid, PDF, kind=kind)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def rows(app: Any) -> dict[str, Any]:
    """Each document's key, bytes and dates as stored (the ciphertext is deferred in the ORM)."""
    async with app.state.runtime.sessions() as session:
        result = await session.execute(
            select(
                Document.id,
                Document.retain_until,
                Document.shredded_at,
                Document.kek_version,
                Document.wrapped_dek,
                Document.ciphertext,
            )
        )
        return {str(row.id): row for row in result}


def is_shredded(row: Any) -> bool:
    shredded: bool = (
        row.shredded_at is not None
        and row.wrapped_dek is None
        and row.kek_version is None
        and row.ciphertext is None
    )
    return shredded


async def erase(app: Any, customer_id: str, now: datetime | None = None) -> int:
    cid = uuid.UUID(customer_id)
    async with app.state.runtime.sessions() as session:
        shredded = await shred_unretained_documents(session, cid, now or utcnow())
        await session.execute(
            update(Customer)
            .where(Customer.id == cid)
            .values(
                erased_at=utcnow(),
                kek_version=None,
                wrapped_dek=None,
                full_name_ct=None,
                phone_ct=None,
                email_ct=None,
                address_ct=None,
                email_bidx=None,
                phone_bidx=None,
            )
        )
        await session.commit()
    return shredded


async def test_erasure_shreds_unretained_and_keeps_retained_documents(
    app: Any,
    client: httpx.AsyncClient,
    upload: Upload,
    download: Download,
    shop: Issued,
    staff: Issued,
    make_customer: MakeCustomer,
) -> None:
    cid, bystander = await make_customer(), await make_customer()
    invoice = await stored(upload, shop, cid, "invoice")
    other = await stored(upload, shop, cid, "other")
    theirs = await stored(upload, shop, bystander, "other")

    assert await erase(app, cid) == 1
    docs = await rows(app)
    assert is_shredded(docs[other])
    assert not is_shredded(docs[invoice])
    assert not is_shredded(docs[theirs])

    # The list still shows both (metadata only), the shredded one with its time.
    r = await client.get(f"/v1/customers/{cid}/documents", headers=staff.headers)
    assert r.status_code == 200, r.text
    listed = {d["id"]: d for d in r.json()["items"]}
    assert set(listed) == {invoice, other}
    assert listed[other]["shredded_at"] is not None
    assert listed[invoice]["shredded_at"] is None
    assert listed[invoice]["retain_until"] is not None

    # The retained invoice is still there for accounting; the other one is gone.
    r = await download(staff, cid, invoice, "accounting")
    assert r.status_code == 200, r.text
    assert r.content == PDF
    r = await download(staff, cid, other, "accounting")
    assert_problem(r, 410)
    assert MARKER not in r.content
    events = await document_events(app, action="document.read")
    assert [(e["outcome"], e["reason"]) for e in events] == [
        ("allowed", None),
        ("denied", "shredded"),
    ]
    # Erased, the customer takes no new document.
    assert_problem(await upload(shop, cid, PDF), 410)


async def test_erasure_shreds_documents_whose_retention_already_ended(
    app: Any, upload: Upload, shop: Issued, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    invoice = await stored(upload, shop, cid, "invoice")
    later = datetime.now(UTC) + timedelta(days=365 * 12)
    assert await erase(app, cid, later) == 1
    assert is_shredded((await rows(app))[invoice])


async def test_sweep_shreds_what_has_expired_and_logs_each(
    app: Any, upload: Upload, shop: Issued, make_customer: MakeCustomer
) -> None:
    first, second = await make_customer(), await make_customer()
    a = await stored(upload, shop, first, "invoice")
    b = await stored(upload, shop, second, "receipt")
    c = await stored(upload, shop, second, "other")  # no retention: never swept
    until = (await rows(app))[a].retain_until
    assert until is not None
    audit = app.state.runtime.audit

    async with app.state.runtime.sessions() as session:
        assert await sweep_expired(session, until - timedelta(seconds=1), audit=audit) == 0
        await session.commit()
    async with app.state.runtime.sessions() as session:
        assert await sweep_expired(session, until, batch=1, audit=audit) == 2
        await session.commit()
    docs = await rows(app)
    assert is_shredded(docs[a])
    assert is_shredded(docs[b])
    assert not is_shredded(docs[c])
    events = await access_events(app, action="document.shred")
    assert sorted((str(e["customer_id"]), e["basis"]) for e in events) == sorted(
        [(first, f"document:{a}"), (second, f"document:{b}")]
    )
    assert all(e["principal_id"] is None and e["role"] is None for e in events)
    async with app.state.runtime.sessions() as session:  # re-running changes nothing
        assert await sweep_expired(session, until + timedelta(days=1), audit=audit) == 0
        await session.commit()
    assert len(await access_events(app, action="document.shred")) == 2


async def test_sweep_commits_each_batch(
    app: Any, upload: Upload, shop: Issued, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    for _ in range(5):
        await stored(upload, shop, cid, "invoice")
    later = datetime.now(UTC) + timedelta(days=365 * 12)
    commits = []
    async with app.state.runtime.sessions() as session:

        async def commit() -> None:
            commits.append(1)
            await session.commit()

        shredded = await sweep_expired(
            session, later, batch=2, audit=app.state.runtime.audit, after_batch=commit
        )
    assert shredded == 5
    assert len(commits) == 3
    assert all(is_shredded(d) for d in (await rows(app)).values())


async def test_sweep_spares_a_customer_on_legal_hold(
    app: Any, upload: Upload, shop: Issued, make_customer: MakeCustomer
) -> None:
    held, free = await make_customer(), await make_customer()
    kept = await stored(upload, shop, held)
    gone = await stored(upload, shop, free)
    later = datetime.now(UTC) + timedelta(days=365 * 12)
    async with app.state.runtime.sessions() as session:
        request_id = new_id()
        await session.execute(
            insert(JudicialRequest),
            [
                {
                    "id": request_id,
                    "authority_type": "court",
                    "authority_name": "Tòa án nhân dân Mẫu",
                    "document_number": "123/2026/QĐ-MAU",
                    "document_date": datetime(2026, 1, 1, tzinfo=UTC).date(),
                    "legal_basis": "Điều mẫu (ví dụ)",
                    "case_reference": "VA-MAU-0001",
                    "fields": ["full_name"],
                    "valid_until": later + timedelta(days=30),
                    "status": "approved",
                    "filed_by": uuid.uuid4(),
                    "filed_at": utcnow(),
                }
            ],
        )
        await session.execute(
            insert(JudicialRequestCustomer),
            [{"request_id": request_id, "customer_id": uuid.UUID(held)}],
        )
        await session.commit()
    async with app.state.runtime.sessions() as session:
        assert await sweep_expired(session, later, audit=app.state.runtime.audit) == 1
        await session.commit()
    docs = await rows(app)
    assert not is_shredded(docs[kept])
    assert is_shredded(docs[gone])


async def test_documents_metadata_for_the_export(
    app: Any, upload: Upload, shop: Issued, make_customer: MakeCustomer
) -> None:
    cid, other = await make_customer(), await make_customer()
    first = await stored(upload, shop, cid, "invoice")
    second = await stored(upload, shop, cid, "other")
    await stored(upload, shop, other, "invoice")
    async with app.state.runtime.sessions() as session:
        meta = await documents_metadata(session, uuid.UUID(cid))
    assert [str(m.id) for m in meta] == [first, second]
    assert [m.kind.value for m in meta] == ["invoice", "other"]
    assert all(m.customer_id == uuid.UUID(cid) for m in meta)
    assert "ciphertext" not in meta[0].model_dump()


# -- the command ----------------------------------------------------------------------------


def env_for(database_url: str, keyring: Keyring, tmp: Any) -> dict[str, str]:
    return cli_env(
        PDVAULT_DATABASE_URL=database_url,
        PDVAULT_KEYS_JSON=keyring.to_json(),
        PDVAULT_DATA_DIR=str(tmp / "cli-data"),
    )


async def run_cli(env: dict[str, str], *args: str) -> Result:
    """The command in this process (in a thread: it runs its own event loop)."""
    return await asyncio.to_thread(invoke_cli, *args, env=env)


async def test_cli_sweep(
    app: Any,
    upload: Upload,
    shop: Issued,
    make_customer: MakeCustomer,
    database_url: str,
    keyring: Keyring,
    tmp_path: Any,
) -> None:
    cid = await make_customer()
    expired = await stored(upload, shop, cid, "invoice")
    current = await stored(upload, shop, cid, "receipt")
    async with app.state.runtime.sessions() as session:
        await session.execute(
            update(Document)
            .where(Document.id == uuid.UUID(expired))
            .values(retain_until=utcnow() - timedelta(days=1))
        )
        await session.commit()
    env = env_for(database_url, keyring, tmp_path)
    done = await run_cli(env, "retention", "sweep")
    assert done.code == 0, done.err
    assert done.out.strip() == "shredded 1 document(s) whose retention period had ended"
    docs = await rows(app)
    assert is_shredded(docs[expired])
    assert not is_shredded(docs[current])
    events = await access_events(app, action="document.shred")
    assert [(e["basis"], e["outcome"]) for e in events] == [(f"document:{expired}", "allowed")]
    again = await run_cli(env, "retention", "sweep")
    assert again.code == 0
    assert again.out.startswith("shredded 0 document(s)")
    verify = await run_cli(env, "audit", "verify")
    assert verify.code == 0, verify.out + verify.err


async def test_cli_sweep_help_and_failure(
    database_url: str, keyring: Keyring, tmp_path: Any
) -> None:
    env = env_for(database_url, keyring, tmp_path)
    shown = await run_cli(env, "retention", "sweep", "--help")
    assert shown.code == 0
    assert "retention period has ended" in shown.out
    listed = await run_cli(env, "retention", "--help")
    assert listed.code == 0
    assert "sweep" in listed.out
    env["PDVAULT_DATABASE_URL"] = "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    # The real entry point, in a process of its own: exit code and one line on standard error.
    failed = await asyncio.to_thread(spawn_cli, "retention", "sweep", env=env)
    assert failed.code != 0
    lines = failed.err_lines
    assert len(lines) == 1, failed.err
    assert lines[0].startswith("pdvault: ")
