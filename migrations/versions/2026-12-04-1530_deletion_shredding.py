"""deletion requests: shredding (complete | pending)

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-04 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deletion_requests") as batch:
        batch.add_column(sa.Column("shredding", sa.String(length=16), nullable=True))
    # Erasures executed before this revision were settled (or not) without a record: the next
    # `pdvault retention sweep` settles storage once more and marks them.
    op.execute("UPDATE deletion_requests SET shredding = 'pending' WHERE status = 'executed'")


def downgrade() -> None:
    with op.batch_alter_table("deletion_requests") as batch:
        batch.drop_column("shredding")
