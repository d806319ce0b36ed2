"""tamper-evident access log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 11:23:18.375536
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pdvault.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Events written before this revision have no chain and cannot be given one here (the
    # signing key is not available to migrations): refuse rather than leave them unverifiable.
    existing = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM access_events")).scalar()
    if existing:
        raise RuntimeError(
            "access_events holds events from before the tamper-evident log: "
            "export and empty it, then migrate"
        )
    op.create_table(
        "audit_checkpoints",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", pdvault.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("heads", sa.JSON(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("audit_checkpoints_pkey")),
    )
    op.create_table(
        "audit_writers",
        sa.Column("writer_id", sa.Uuid(), nullable=False),
        sa.Column("registered_at", pdvault.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("process", sa.String(length=200), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("writer_id", name=op.f("audit_writers_pkey")),
    )
    with op.batch_alter_table("access_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("writer_id", sa.Uuid(), nullable=False))
        batch_op.add_column(sa.Column("writer_seq", sa.BigInteger(), nullable=False))
        batch_op.add_column(sa.Column("hash", sa.LargeBinary(), nullable=False))
        batch_op.create_unique_constraint("access_events_writer_key", ["writer_id", "writer_seq"])


def downgrade() -> None:
    with op.batch_alter_table("access_events", schema=None) as batch_op:
        batch_op.drop_constraint("access_events_writer_key", type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("writer_seq")
        batch_op.drop_column("writer_id")

    op.drop_table("audit_writers")
    op.drop_table("audit_checkpoints")
