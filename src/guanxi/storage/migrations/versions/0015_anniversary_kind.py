"""anniversary kind: custom dates and the membership date

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MEMBERSHIP = sa.text("kind = 'membership'")


def upgrade() -> None:
    with op.batch_alter_table("anniversary", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="custom", nullable=False)
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_anniversary_kind_known"), "kind IN ('custom', 'membership')"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_anniversary_calendar_kind_known"), "calendar_kind IN ('solar', 'lunar')"
        )
        batch_op.create_index(
            "uq_anniversary_membership",
            ["customer_id"],
            unique=True,
            sqlite_where=MEMBERSHIP,
            postgresql_where=MEMBERSHIP,
        )


def downgrade() -> None:
    with op.batch_alter_table("anniversary", schema=None) as batch_op:
        batch_op.drop_index("uq_anniversary_membership")
        batch_op.drop_constraint(batch_op.f("ck_anniversary_calendar_kind_known"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_anniversary_kind_known"), type_="check")
        batch_op.drop_column("kind")
