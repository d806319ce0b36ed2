"""The baseline for bench/run.py: the same reads as pdvault, of plaintext rows, with nothing else.

Bench-only (never shipped in src/). Run by the same uvicorn, with the same worker count, on the
same database as the vault under test::

    BENCH_DATABASE_URL=... python -m uvicorn baseline_app:create_app --factory --app-dir bench

It reads ``bench_plain_customers`` (the harness fills it with the same customers in the clear)
through pdvault's own engine factory (``pdvault.db.make_engine``) and answers with pdvault's own
response models, so the JSON has the same shape. No authentication, no policy, no encryption,
no access log: whatever the vault costs beyond this is the price of those.

- ``GET /v1/customers/{id}?purpose=order_confirmation``: the purpose's fields only (all four);
- ``POST /v1/customers/search`` ``{phone, purpose}``: an indexed plaintext phone column;
- ``GET /v1/partner/customers/{id}?purpose=order_fulfillment``: the grant's fields, unmasked;
- ``GET /v1/audit/events?limit=``: the same ``access_events`` page query as the real endpoint.

Reads run in a plain (deferred) transaction: a baseline that never writes has no reason to take
SQLite's write lock, which the vault does because every vault read appends an access event.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query
from plain_table import plain_customers
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pdvault.audit.schemas import EventPage
from pdvault.audit.service import EventFilter, list_events
from pdvault.customers.schemas import CustomerOut, SearchHit, SearchOut
from pdvault.db import make_engine, make_sessionmaker
from pdvault.partners.schemas import PartnerCustomerOut

ALL = ("full_name", "phone", "email", "address")
PURPOSE_FIELDS = {"order_confirmation": ALL}
# The bench's partner grant: these fields, for order_fulfillment (the vault masks two of them).
PARTNER_FIELDS = ("full_name", "phone", "address")
c = plain_customers.c


class SearchBody(BaseModel):
    phone: str
    purpose: str


def create_app() -> FastAPI:
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The vault's engine and read sessions, so both pay the same per-statement costs.
        engine: AsyncEngine = make_engine(
            os.environ["BENCH_DATABASE_URL"],
            pool_size=int(os.environ.get("PDVAULT_DB_POOL_SIZE", "10")),
        )
        state["sessions"] = make_sessionmaker(engine, read_only=True)
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    def session() -> AsyncSession:
        maker: async_sessionmaker[AsyncSession] = state["sessions"]
        return maker()

    async def row_of(customer_id: uuid.UUID, fields: tuple[str, ...]) -> Any:
        async with session() as s:
            row = (
                await s.execute(
                    select(
                        c.id, c.created_at, c.updated_at, c.version, *(c[f] for f in fields)
                    ).where(c.id == customer_id)
                )
            ).first()
            await s.rollback()
        if row is None:
            raise HTTPException(404)
        return row

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/customers/{customer_id}", response_model=CustomerOut)
    async def read(customer_id: uuid.UUID, purpose: Annotated[str, Query()]) -> CustomerOut:
        fields = PURPOSE_FIELDS.get(purpose)
        if fields is None:
            raise HTTPException(403)
        row = await row_of(customer_id, fields)
        return CustomerOut(
            id=row.id,
            purpose=purpose,
            fields={f: getattr(row, f) for f in fields},
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
        )

    @app.get("/v1/partner/customers/{customer_id}", response_model=PartnerCustomerOut)
    async def partner_read(
        customer_id: uuid.UUID, purpose: Annotated[str, Query()]
    ) -> PartnerCustomerOut:
        row = await row_of(customer_id, PARTNER_FIELDS)
        return PartnerCustomerOut(
            id=row.id,
            purpose=purpose,
            fields={f: getattr(row, f) for f in PARTNER_FIELDS},
            masked=[],
        )

    @app.post("/v1/customers/search", response_model=SearchOut)
    async def search(body: SearchBody) -> SearchOut:
        fields = PURPOSE_FIELDS.get(body.purpose)
        if fields is None:
            raise HTTPException(403)
        async with session() as s:
            rows = (
                await s.execute(
                    select(c.id, *(c[f] for f in fields))
                    .where(c.phone == body.phone)
                    .order_by(c.id)
                    .limit(100)
                )
            ).all()
            await s.rollback()
        return SearchOut(
            items=[SearchHit(id=r.id, fields={f: getattr(r, f) for f in fields}) for r in rows]
        )

    @app.get("/v1/audit/events", response_model=EventPage)
    async def audit_events(limit: Annotated[int, Query(ge=1, le=500)] = 50) -> EventPage:
        async with session() as s:
            items, next_cursor = await list_events(s, EventFilter(), limit, 0)
            await s.rollback()
        return EventPage(items=items, next_cursor=next_cursor)

    return app
