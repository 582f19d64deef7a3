"""coupons

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupon_campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("max_discount", sa.BigInteger(), nullable=True),
        sa.Column("min_spend", sa.BigInteger(), nullable=True),
        sa.Column("categories", sa.JSON(), nullable=True),
        sa.Column("store_ids", sa.JSON(), nullable=True),
        sa.Column("valid_from", sa.DateTime(), nullable=True),
        sa.Column("valid_until", sa.DateTime(), nullable=True),
        sa.Column("uses_per_code", sa.Integer(), nullable=True),
        sa.Column("uses_per_customer", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('fixed', 'percent')", name=op.f("ck_coupon_campaign_kind_known")
        ),
        sa.CheckConstraint("value > 0", name=op.f("ck_coupon_campaign_value_positive")),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_coupon_campaign_created_by_staff_id_staff"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_campaign")),
    )
    op.create_table(
        "coupon",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("issued_by_staff_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'used_up', 'void')", name=op.f("ck_coupon_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["coupon_campaign.id"],
            name=op.f("fk_coupon_campaign_id_coupon_campaign"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_coupon_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["issued_by_staff_id"], ["staff.id"], name=op.f("fk_coupon_issued_by_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon")),
        sa.UniqueConstraint("code", name=op.f("uq_coupon_code")),
    )
    with op.batch_alter_table("coupon", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coupon_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_coupon_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "coupon_redemption",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coupon_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("order_ref", sa.String(length=64), nullable=False),
        sa.Column("discount", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("actor_staff_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_staff_id"], ["staff.id"], name=op.f("fk_coupon_redemption_actor_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupon.id"], name=op.f("fk_coupon_redemption_coupon_id_coupon")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_coupon_redemption_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["store.id"], name=op.f("fk_coupon_redemption_store_id_store")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_redemption")),
        sa.UniqueConstraint(
            "coupon_id", "order_ref", name=op.f("uq_coupon_redemption_coupon_id_order_ref")
        ),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_coupon_redemption_idempotency_key")),
    )
    with op.batch_alter_table("coupon_redemption", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coupon_redemption_customer_id"), ["customer_id"], unique=False
        )
    # a coupon reward (0009) names the campaign it hands out, and its redemption the coupon
    with op.batch_alter_table("reward", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_reward_coupon_campaign_id_coupon_campaign"),
            "coupon_campaign", ["coupon_campaign_id"], ["id"],
        )  # fmt: skip
    with op.batch_alter_table("reward_redemption", schema=None) as batch_op:
        batch_op.add_column(sa.Column("coupon_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_reward_redemption_coupon_id_coupon"), "coupon", ["coupon_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("reward_redemption", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_reward_redemption_coupon_id_coupon"), type_="foreignkey"
        )
        batch_op.drop_column("coupon_id")
    with op.batch_alter_table("reward", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_reward_coupon_campaign_id_coupon_campaign"), type_="foreignkey"
        )
    with op.batch_alter_table("coupon_redemption", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coupon_redemption_customer_id"))

    op.drop_table("coupon_redemption")
    with op.batch_alter_table("coupon", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coupon_customer_id"))
        batch_op.drop_index(batch_op.f("ix_coupon_campaign_id"))

    op.drop_table("coupon")
    op.drop_table("coupon_campaign")
