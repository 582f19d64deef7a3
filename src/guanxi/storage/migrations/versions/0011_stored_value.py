"""stored value

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stored_value_balance",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("paid", sa.BigInteger(), nullable=False),
        sa.Column("bonus", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "paid >= 0 AND bonus >= 0", name=op.f("ck_stored_value_balance_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_stored_value_balance_customer_id_customer"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_stored_value_balance")),
    )
    op.create_table(
        "stored_value_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("paid", sa.BigInteger(), nullable=False),
        sa.Column("bonus", sa.BigInteger(), nullable=False),
        sa.Column("paid_after", sa.BigInteger(), nullable=False),
        sa.Column("bonus_after", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor_staff_id", sa.Integer(), nullable=True),
        sa.Column("payment_method", sa.String(length=32), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("related_entry_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=160), nullable=True),
        sa.Column("request_digest", sa.String(length=64), nullable=True),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('top_up', 'spend', 'refund', 'forfeit', 'spend_reversal', 'adjust')",
            name=op.f("ck_stored_value_entry_kind_known"),
        ),
        sa.CheckConstraint(
            "paid <> 0 OR bonus <> 0", name=op.f("ck_stored_value_entry_amount_nonzero")
        ),
        sa.CheckConstraint(
            "paid_after >= 0 AND bonus_after >= 0",
            name=op.f("ck_stored_value_entry_after_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["actor_staff_id"],
            ["staff.id"],
            name=op.f("fk_stored_value_entry_actor_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_stored_value_entry_customer_id_customer"),
        ),
        sa.ForeignKeyConstraint(
            ["related_entry_id"],
            ["stored_value_entry.id"],
            name=op.f("fk_stored_value_entry_related_entry_id_stored_value_entry"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_value_entry")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_stored_value_entry_idempotency_key")),
    )
    with op.batch_alter_table("stored_value_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stored_value_entry_actor_staff_id"), ["actor_staff_id"], unique=False
        )
        batch_op.create_index(
            "ix_stored_value_entry_customer_id_id", ["customer_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_stored_value_entry_related_entry_id"),
            ["related_entry_id"],
            unique=False,
        )

    op.create_table(
        "stored_value_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("min_amount", sa.BigInteger(), nullable=False),
        sa.Column("bonus", sa.BigInteger(), nullable=False),
        sa.Column("updated_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "min_amount > 0 AND bonus > 0", name=op.f("ck_stored_value_rule_amounts_positive")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_stored_value_rule_updated_by_staff_id_staff"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_value_rule")),
        sa.UniqueConstraint("min_amount", name=op.f("uq_stored_value_rule_min_amount")),
    )


def downgrade() -> None:
    op.drop_table("stored_value_rule")
    with op.batch_alter_table("stored_value_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stored_value_entry_related_entry_id"))
        batch_op.drop_index("ix_stored_value_entry_customer_id_id")
        batch_op.drop_index(batch_op.f("ix_stored_value_entry_actor_staff_id"))

    op.drop_table("stored_value_entry")
    op.drop_table("stored_value_balance")
