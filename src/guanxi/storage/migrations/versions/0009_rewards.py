"""rewards catalog

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reward",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("points_cost", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("per_customer_limit", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("coupon_campaign_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('goods', 'service', 'coupon')", name=op.f("ck_reward_kind_known")
        ),
        sa.CheckConstraint(
            "per_customer_limit IS NULL OR per_customer_limit > 0",
            name=op.f("ck_reward_limit_positive"),
        ),
        sa.CheckConstraint("points_cost > 0", name=op.f("ck_reward_points_cost_positive")),
        sa.CheckConstraint(
            "stock IS NULL OR stock >= 0", name=op.f("ck_reward_stock_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward")),
    )
    op.create_table(
        "reward_redemption",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("reward_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("points_entry_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("actor_staff_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.Column("cancelled_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("refund_entry_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('redeemed', 'cancelled')", name=op.f("ck_reward_redemption_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["actor_staff_id"],
            ["staff.id"],
            name=op.f("fk_reward_redemption_actor_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["cancelled_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_reward_redemption_cancelled_by_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_reward_redemption_customer_id_customer"),
        ),
        sa.ForeignKeyConstraint(
            ["points_entry_id"],
            ["points_entry.id"],
            name=op.f("fk_reward_redemption_points_entry_id_points_entry"),
        ),
        sa.ForeignKeyConstraint(
            ["refund_entry_id"],
            ["points_entry.id"],
            name=op.f("fk_reward_redemption_refund_entry_id_points_entry"),
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["reward.id"], name=op.f("fk_reward_redemption_reward_id_reward")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["store.id"], name=op.f("fk_reward_redemption_store_id_store")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_redemption")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_reward_redemption_idempotency_key")),
    )
    with op.batch_alter_table("reward_redemption", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reward_redemption_customer_id_reward_id", ["customer_id", "reward_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_reward_redemption_reward_id"), ["reward_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("reward_redemption", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reward_redemption_reward_id"))
        batch_op.drop_index("ix_reward_redemption_customer_id_reward_id")

    op.drop_table("reward_redemption")
    op.drop_table("reward")
