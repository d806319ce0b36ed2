"""audit verify runs (incremental verification) and the indexes of the auditor's filters

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-05 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pdvault.db

revision: str = "0014"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FILTERS = ("role", "action", "purpose", "outcome")


def upgrade() -> None:
    op.create_table(
        "audit_verify_runs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("started_at", pdvault.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", pdvault.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("from_seq", sa.BigInteger(), nullable=True),
        sa.Column("to_seq", sa.BigInteger(), nullable=True),
        sa.Column("from_checkpoint_id", sa.BigInteger(), nullable=True),
        sa.Column("through_checkpoint_id", sa.BigInteger(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("first_invalid_seq", sa.BigInteger(), nullable=True),
        sa.Column("problem", sa.String(length=200), nullable=True),
        sa.Column("events_checked", sa.BigInteger(), nullable=False),
        sa.Column("checkpoints_checked", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("audit_verify_runs_pkey")),
    )
    op.create_index("ix_audit_verify_runs_ok", "audit_verify_runs", ["ok", "id"])
    op.create_index("ix_audit_checkpoints_at", "audit_checkpoints", ["at"])
    # On a large log these take a while (a scan per index); PostgreSQL keeps the table
    # readable meanwhile, and writes wait. See docs/audit.md "Listing".
    for column in FILTERS:
        op.create_index(f"ix_access_events_{column}", "access_events", [column, "seq", "at"])


def downgrade() -> None:
    for column in FILTERS:
        op.drop_index(f"ix_access_events_{column}", table_name="access_events")
    op.drop_index("ix_audit_checkpoints_at", table_name="audit_checkpoints")
    op.drop_index("ix_audit_verify_runs_ok", table_name="audit_verify_runs")
    op.drop_table("audit_verify_runs")
