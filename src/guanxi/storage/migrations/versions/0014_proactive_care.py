"""proactive care

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_setting",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_app_setting")),
    )
    op.create_table(
        "followup_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("days_after", sa.SmallInteger(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("skip_holidays", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_plan")),
    )
    op.create_table(
        "message_template",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("occasion", sa.String(length=32), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("is_marketing", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "channel IN ('sms', 'email', 'wechat')", name=op.f("ck_message_template_channel_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_template")),
    )
    with op.batch_alter_table("message_template", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_template_occasion"), ["occasion"], unique=False
        )

    op.create_table(
        "occasion_setting",
        sa.Column("occasion", sa.String(length=32), nullable=False),
        sa.Column("observed", sa.Boolean(), nullable=False),
        sa.Column("lead_days", sa.SmallInteger(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["message_template.id"],
            name=op.f("fk_occasion_setting_template_id_message_template"),
        ),
        sa.PrimaryKeyConstraint("occasion", name=op.f("pk_occasion_setting")),
    )
    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("holdout_percent", sa.SmallInteger(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("is_marketing", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("excluded", sa.Integer(), nullable=False),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "channel IN ('sms', 'email', 'wechat')", name=op.f("ck_campaign_channel_known")
        ),
        sa.CheckConstraint(
            "kind IN ('regular', 'winback', 'interest', 'greeting')",
            name=op.f("ck_campaign_kind_known"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'queued', 'done', 'cancelled')",
            name=op.f("ck_campaign_status_known"),
        ),
        sa.CheckConstraint(
            "holdout_percent BETWEEN 0 AND 90", name=op.f("ck_campaign_holdout_percent_range")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_campaign_created_by_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["message_template.id"],
            name=op.f("fk_campaign_template_id_message_template"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign")),
    )
    op.create_table(
        "campaign_holdout",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_campaign_holdout_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_campaign_holdout_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "customer_id", name=op.f("pk_campaign_holdout")),
    )
    op.create_table(
        "commitment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("owner_staff_id", sa.Integer(), nullable=True),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("promise", sa.String(length=500), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("remind_days", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("fulfilled_on", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'kept', 'broken', 'cancelled')",
            name=op.f("ck_commitment_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_commitment_created_by_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_commitment_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_staff_id"], ["staff.id"], name=op.f("fk_commitment_owner_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["store.id"], name=op.f("fk_commitment_store_id_store")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commitment")),
    )
    with op.batch_alter_table("commitment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_commitment_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_commitment_owner_staff_id_status_due_on",
            ["owner_staff_id", "status", "due_on"],
            unique=False,
        )
        batch_op.create_index(
            "ix_commitment_store_id_status_due_on", ["store_id", "status", "due_on"], unique=False
        )

    op.create_table(
        "message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("is_marketing", sa.Boolean(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("not_before", sa.DateTime(), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.Column("sending_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("provider_id", sa.String(length=100), nullable=True),
        sa.CheckConstraint(
            "channel IN ('sms', 'email', 'wechat')", name=op.f("ck_message_channel_known")
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'failed', 'unknown', 'skipped', "
            "'cancelled', 'exported')",
            name=op.f("ck_message_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_message_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_message_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_message_dedupe_key")),
    )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(
            "ix_message_customer_id_sent_at", ["customer_id", "sent_at"], unique=False
        )
        batch_op.create_index(
            "ix_message_status_not_before", ["status", "not_before"], unique=False
        )

    op.create_table(
        "care_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("assignee_staff_id", sa.Integer(), nullable=True),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("source_key", sa.String(length=160), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("purchase_id", sa.Integer(), nullable=True),
        sa.Column("commitment_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("outcome_note", sa.Text(), nullable=True),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("done_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('followup', 'greeting', 'commitment', 'winback', 'other')",
            name=op.f("ck_care_task_kind_known"),
        ),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('reached', 'no_answer', 'feedback', 'new_need', "
            "'complaint')",
            name=op.f("ck_care_task_outcome_known"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'done', 'cancelled')", name=op.f("ck_care_task_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["assignee_staff_id"], ["staff.id"], name=op.f("fk_care_task_assignee_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["commitment_id"], ["commitment.id"], name=op.f("fk_care_task_commitment_id_commitment")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_care_task_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["done_by_staff_id"], ["staff.id"], name=op.f("fk_care_task_done_by_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["followup_plan.id"], name=op.f("fk_care_task_plan_id_followup_plan")
        ),
        sa.ForeignKeyConstraint(
            ["purchase_id"], ["purchase.id"], name=op.f("fk_care_task_purchase_id_purchase")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["store.id"], name=op.f("fk_care_task_store_id_store")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_task")),
        sa.UniqueConstraint("source_key", name=op.f("uq_care_task_source_key")),
    )
    with op.batch_alter_table("care_task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_care_task_assignee_staff_id_status_due_on",
            ["assignee_staff_id", "status", "due_on"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_care_task_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(
            "ix_care_task_store_id_status_due_on", ["store_id", "status", "due_on"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("care_task", schema=None) as batch_op:
        batch_op.drop_index("ix_care_task_store_id_status_due_on")
        batch_op.drop_index(batch_op.f("ix_care_task_customer_id"))
        batch_op.drop_index("ix_care_task_assignee_staff_id_status_due_on")

    op.drop_table("care_task")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_status_not_before")
        batch_op.drop_index("ix_message_customer_id_sent_at")
        batch_op.drop_index(batch_op.f("ix_message_campaign_id"))

    op.drop_table("message")
    with op.batch_alter_table("commitment", schema=None) as batch_op:
        batch_op.drop_index("ix_commitment_store_id_status_due_on")
        batch_op.drop_index("ix_commitment_owner_staff_id_status_due_on")
        batch_op.drop_index(batch_op.f("ix_commitment_customer_id"))

    op.drop_table("commitment")
    op.drop_table("campaign_holdout")
    op.drop_table("campaign")
    op.drop_table("occasion_setting")
    with op.batch_alter_table("message_template", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_template_occasion"))

    op.drop_table("message_template")
    op.drop_table("followup_plan")
    op.drop_table("app_setting")
