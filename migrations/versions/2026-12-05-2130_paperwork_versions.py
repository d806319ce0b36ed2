"""paperwork versions: each generated breach notice and impact assessment (issue 21)

Revision ID: 0021
Revises: 0014
Create Date: 2026-12-05 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pdvault.db

revision: str = "0021"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "paperwork_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("breach_id", sa.Uuid(), nullable=True),
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column("generated_at", pdvault.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("paperwork_versions_pkey")),
    )
    op.create_index("ix_paperwork_versions_kind_at", "paperwork_versions", ["kind", "generated_at"])


def downgrade() -> None:
    op.drop_index("ix_paperwork_versions_kind_at", table_name="paperwork_versions")
    op.drop_table("paperwork_versions")
