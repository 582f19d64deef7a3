"""referrals

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "referral_code",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_referral_code_customer_id_customer")
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_referral_code")),
        sa.UniqueConstraint("code", name=op.f("uq_referral_code_code")),
    )
    op.create_table(
        "referral_reward",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referred_id", sa.Integer(), nullable=False),
        sa.Column("referrer_id", sa.Integer(), nullable=False),
        sa.Column("purchase_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("referrer_points", sa.Integer(), nullable=False),
        sa.Column("referred_points", sa.Integer(), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('rewarded', 'refused')", name=op.f("ck_referral_reward_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["purchase_id"], ["purchase.id"], name=op.f("fk_referral_reward_purchase_id_purchase")
        ),
        sa.ForeignKeyConstraint(
            ["referred_id"], ["customer.id"], name=op.f("fk_referral_reward_referred_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["referrer_id"], ["customer.id"], name=op.f("fk_referral_reward_referrer_id_customer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_reward")),
        sa.UniqueConstraint("referred_id", name=op.f("uq_referral_reward_referred_id")),
    )
    with op.batch_alter_table("referral_reward", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_referral_reward_purchase_id"), ["purchase_id"], unique=False
        )
        batch_op.create_index(
            "ix_referral_reward_referrer_id_business_day",
            ["referrer_id", "business_day"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("referral_reward", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_reward_referrer_id_business_day")
        batch_op.drop_index(batch_op.f("ix_referral_reward_purchase_id"))

    op.drop_table("referral_reward")
    op.drop_table("referral_code")
