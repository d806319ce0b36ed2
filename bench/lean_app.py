"""The lean baseline for bench/run.py (issue 17): the reads a team would write with no vault.

Bench-only (never shipped in src/). FastAPI, one SQLAlchemy Core ``select`` of a plaintext row
per request on a plain ``async with engine.connect()``, and nothing else: no authentication,
no policy, no encryption, no access log, no middleware, no log line. Its own response models
give the same JSON as pdvault's. Run by the same uvicorn, with the same worker count, on the
same database as the vault under test::

    BENCH_DATABASE_URL=... python -m uvicorn lean_app:create_app --factory --app-dir bench

The engine is ``pdvault.db.make_engine`` (same pool size, driver arguments and SQLite pragmas
as the vault), used without any of pdvault's sessions. Each connection runs its statement in
autocommit (one round trip, no BEGIN/COMMIT, no SQLite write lock), as a read-only team app
sensibly would; on SQLite the engine's ``begin`` hook is told so through its per-statement
option, else it would take the write lock (see docs/decisions.md, issue 17). The statements
are built once, at import, with bound parameters.

- ``GET /v1/customers/{id}?purpose=order_confirmation``: all four fields;
- ``GET /v1/partner/customers/{id}?purpose=order_fulfillment``: the bench grant's three fields,
  in the clear (``masked`` empty);
- ``POST /v1/customers/search`` ``{phone, purpose}``: the indexed plaintext phone column;
- ``GET /healthz``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query
from plain_table import plain_customers
from pydantic import BaseModel
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pdvault.db import PER_STATEMENT, make_engine

c = plain_customers.c
ALL = ("full_name", "phone", "email", "address")
PARTNER_FIELDS = ("full_name", "phone", "address")  # the bench grant's fields
READ_BY_ID = select(c.id, c.created_at, c.updated_at, c.version, *(c[f] for f in ALL)).where(
    c.id == bindparam("customer_id")
)
PARTNER_READ = select(c.id, *(c[f] for f in PARTNER_FIELDS)).where(c.id == bindparam("customer_id"))
SEARCH = (
    select(c.id, *(c[f] for f in ALL))
    .where(c.phone == bindparam("phone"))
    .order_by(c.id)
    .limit(100)
)


class Customer(BaseModel):
    id: uuid.UUID
    purpose: str
    fields: dict[str, str]
    created_at: datetime
    updated_at: datetime
    version: int


class PartnerCustomer(BaseModel):
    id: uuid.UUID
    purpose: str
    fields: dict[str, str]
    masked: list[str]


class Hit(BaseModel):
    id: uuid.UUID
    fields: dict[str, str]


class Hits(BaseModel):
    items: list[Hit]


class SearchBody(BaseModel):
    phone: str
    purpose: str


def create_app() -> FastAPI:
    state: dict[str, AsyncEngine] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            os.environ["BENCH_DATABASE_URL"],
            pool_size=int(os.environ.get("PDVAULT_DB_POOL_SIZE", "10")),
        )
        state["engine"] = engine.execution_options(
            isolation_level="AUTOCOMMIT", **{PER_STATEMENT: True}
        )
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    async def one(statement: Any, **params: Any) -> Any:
        async with state["engine"].connect() as conn:
            return (await conn.execute(statement, params)).first()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/customers/{customer_id}")
    async def read(customer_id: uuid.UUID, purpose: Annotated[str, Query()]) -> Customer:
        row = await one(READ_BY_ID, customer_id=customer_id)
        if row is None:
            raise HTTPException(404)
        return Customer(
            id=row.id,
            purpose=purpose,
            fields={f: row._mapping[f] for f in ALL},
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
        )

    @app.get("/v1/partner/customers/{customer_id}")
    async def partner_read(
        customer_id: uuid.UUID, purpose: Annotated[str, Query()]
    ) -> PartnerCustomer:
        row = await one(PARTNER_READ, customer_id=customer_id)
        if row is None:
            raise HTTPException(404)
        fields = {f: row._mapping[f] for f in PARTNER_FIELDS}
        return PartnerCustomer(id=row.id, purpose=purpose, fields=fields, masked=[])

    @app.post("/v1/customers/search")
    async def search(body: SearchBody) -> Hits:
        async with state["engine"].connect() as conn:
            rows = (await conn.execute(SEARCH, {"phone": body.phone})).all()
        return Hits(items=[Hit(id=r.id, fields={f: r._mapping[f] for f in ALL}) for r in rows])

    return app
