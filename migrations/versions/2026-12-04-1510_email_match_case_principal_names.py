"""email matching ignores case; principal names are unique

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-04 15:10:00

Two changes that need the data looked at first:

- Email blind indexes become the HMAC of the lower-cased address. Alembic holds no keys, so
  this migration cannot recompute them: it records the data upgrade
  ``customer.email_reindex`` (table ``data_upgrades``) when any customer has an email index,
  and ``pdvault migrate`` / ``pdvault init`` run it with the keys; ``pdvault serve`` refuses
  to start until it has run (pdvault/customers/reindex.py).
- ``principals.name`` becomes unique. Principals already sharing a name keep the oldest as
  it is; each later one is renamed ``<name> (<its id>)`` and named by id in a warning. A name
  is a label (tokens, grants and the log refer to the id), so nothing else changes.
"""

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import pdvault.db

revision: str = "0013"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMAIL_REINDEX = "customer.email_reindex"
NAME_MAX = 200
log = logging.getLogger("alembic.runtime.migration")


def _dedupe_principal_names(conn: sa.Connection) -> None:
    principals = sa.table(
        "principals",
        sa.column("id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("created_at", pdvault.db.UTCDateTime(timezone=True)),
    )
    shared = (
        sa.select(principals.c.name)
        .group_by(principals.c.name)
        .having(sa.func.count() > 1)
        .scalar_subquery()
    )
    rows = conn.execute(
        sa.select(principals.c.id, principals.c.name)
        .where(principals.c.name.in_(shared))
        .order_by(principals.c.name, principals.c.created_at, principals.c.id)
    ).all()
    seen: set[str] = set()
    renamed: list[str] = []
    for pid, name in rows:
        if name not in seen:
            seen.add(name)  # the oldest keeps its name
            continue
        suffix = f" ({pid})"
        conn.execute(
            sa.update(principals)
            .where(principals.c.id == pid)
            .values(name=name[: NAME_MAX - len(suffix)] + suffix)
        )
        renamed.append(str(pid))
    if renamed:
        log.warning(
            "principal names must now be unique: %d principal(s) sharing a name were renamed "
            "'<name> (<id>)': %s",
            len(renamed),
            ", ".join(renamed),
        )


def upgrade() -> None:
    conn = op.get_bind()
    upgrades = op.create_table(
        "data_upgrades",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("requested_at", pdvault.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", pdvault.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("data_upgrades_pkey")),
    )
    indexed = conn.execute(
        sa.text("SELECT 1 FROM customers WHERE email_bidx IS NOT NULL LIMIT 1")
    ).first()
    if indexed is not None:
        op.bulk_insert(
            upgrades,
            [{"name": EMAIL_REINDEX, "requested_at": datetime.now(UTC), "done_at": None}],
        )

    _dedupe_principal_names(conn)
    with op.batch_alter_table("principals", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("principals_name_key"), ["name"])


def downgrade() -> None:
    with op.batch_alter_table("principals", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("principals_name_key"), type_="unique")
    op.drop_table("data_upgrades")
