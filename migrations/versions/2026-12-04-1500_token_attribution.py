"""token attribution: the token behind each access event, what an administrative act was
about, and who issued each token

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Events already in the log keep NULL in the three new columns, so their canonical form
    # (and hash) stays the 14-column one they were written with (audit/chain.py).
    with op.batch_alter_table("access_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("target_principal_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("target_token_id", sa.Uuid(), nullable=True))
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issued_by", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("tokens_issued_by_fkey"), "principals", ["issued_by"], ["id"]
        )


def downgrade() -> None:
    # An event that names a token is hashed over those columns: dropping them would leave it
    # unverifiable, so refuse rather than break the log.
    named = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT COUNT(*) FROM access_events WHERE token_id IS NOT NULL "
                "OR target_principal_id IS NOT NULL OR target_token_id IS NOT NULL"
            )
        )
        .scalar()
    )
    if named:
        raise RuntimeError(
            "access_events holds events that name a token; they cannot be verified without "
            "those columns: export the log before downgrading below 0009"
        )
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("tokens_issued_by_fkey"), type_="foreignkey")
        batch_op.drop_column("issued_by")
    with op.batch_alter_table("access_events", schema=None) as batch_op:
        batch_op.drop_column("target_token_id")
        batch_op.drop_column("target_principal_id")
        batch_op.drop_column("token_id")
