"""The customers in the clear, for the baselines: the harness fills it with the same customers
the vault holds sealed (bench/perf/data.py); bench/lean_app.py and bench/baseline_app.py read it.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, Table, Text, Uuid

from pdvault.db import UTCDateTime

metadata = MetaData()
plain_customers = Table(
    "bench_plain_customers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("full_name", Text, nullable=False),
    Column("phone", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Index("ix_bench_plain_customers_phone", "phone"),
)
