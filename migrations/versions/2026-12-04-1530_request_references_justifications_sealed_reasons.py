"""access request references, stored justifications, sealed rejection reasons

Issue 14.6: ``access_requests.reference`` (the person's own request, cited by the dpo).
Issue 14.8: ``access_justifications``, the ``special_case_support`` justification of each
allowed read, sealed under the customer's data key.
Issue 14.10: ``rejection_reason_ct`` on both request registers, sealed under the customer's
data key. Alembic holds no keys, so rows written before this revision keep their clear
``rejection_reason``; ``pdvault seal-free-text`` moves them (docs/decisions.md).

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-04 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pdvault.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reference", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("rejection_reason_ct", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("deletion_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rejection_reason_ct", sa.LargeBinary(), nullable=True))
    op.create_table(
        "access_justifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("principal_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("at", pdvault.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("text_ct", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("access_justifications_customer_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("access_justifications_pkey")),
    )
    with op.batch_alter_table("access_justifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_access_justifications_customer", ["customer_id", "at"], unique=False
        )
        batch_op.create_index("ix_access_justifications_request", ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("access_justifications", schema=None) as batch_op:
        batch_op.drop_index("ix_access_justifications_request")
        batch_op.drop_index("ix_access_justifications_customer")
    op.drop_table("access_justifications")
    with op.batch_alter_table("deletion_requests", schema=None) as batch_op:
        batch_op.drop_column("rejection_reason_ct")
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.drop_column("rejection_reason_ct")
        batch_op.drop_column("reference")
