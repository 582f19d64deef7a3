"""listen and belong: complaints, public links, surveys, clubs, events, service plans

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "club",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("rule", sa.JSON(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["store_id"], ["store.id"], name=op.f("fk_club_store_id_store")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_club")),
        sa.UniqueConstraint("name", name=op.f("uq_club_name")),
    )
    op.create_table(
        "club_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("club_id", sa.Integer(), nullable=True),
        sa.Column("series_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("confirmed", sa.Integer(), nullable=False),
        sa.Column("recurrence", sa.String(length=16), nullable=False),
        sa.Column("attendance_points", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "recurrence IN ('none', 'monthly', 'quarterly', 'yearly')",
            name=op.f("ck_club_event_recurrence_known"),
        ),
        sa.CheckConstraint(
            "status IN ('planned', 'cancelled', 'done')", name=op.f("ck_club_event_status_known")
        ),
        sa.CheckConstraint(
            "attendance_points >= 0", name=op.f("ck_club_event_attendance_points_not_negative")
        ),
        sa.CheckConstraint(
            "capacity IS NULL OR capacity > 0", name=op.f("ck_club_event_capacity_positive")
        ),
        sa.ForeignKeyConstraint(["club_id"], ["club.id"], name=op.f("fk_club_event_club_id_club")),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_club_event_created_by_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["series_id"], ["club_event.id"], name=op.f("fk_club_event_series_id_club_event")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["store.id"], name=op.f("fk_club_event_store_id_store")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_club_event")),
    )
    with op.batch_alter_table("club_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_club_event_club_id"), ["club_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_club_event_starts_at"), ["starts_at"], unique=False)

    op.create_table(
        "survey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("intro", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('nps', 'csat', 'expectation')", name=op.f("ck_survey_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"], ["staff.id"], name=op.f("fk_survey_created_by_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey")),
    )
    op.create_table(
        "club_member",
        sa.Column("club_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.Column("left_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["club_id"], ["club.id"], name=op.f("fk_club_member_club_id_club"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_club_member_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("club_id", "customer_id", name=op.f("pk_club_member")),
    )
    with op.batch_alter_table("club_member", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_club_member_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "event_rsvp",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("invited_at", sa.DateTime(), nullable=True),
        sa.Column("responded_at", sa.DateTime(), nullable=True),
        sa.Column("waitlist_at", sa.DateTime(), nullable=True),
        sa.Column("checked_in_at", sa.DateTime(), nullable=True),
        sa.Column("checked_in_by_staff_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('invited', 'confirmed', 'waitlisted', 'declined', 'cancelled')",
            name=op.f("ck_event_rsvp_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["checked_in_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_event_rsvp_checked_in_by_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_event_rsvp_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["club_event.id"],
            name=op.f("fk_event_rsvp_event_id_club_event"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", "customer_id", name=op.f("pk_event_rsvp")),
    )
    with op.batch_alter_table("event_rsvp", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_rsvp_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index("ix_event_rsvp_event_id_status", ["event_id", "status"], unique=False)

    op.create_table(
        "service_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("owner_staff_id", sa.Integer(), nullable=True),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'completed', 'cancelled')",
            name=op.f("ck_service_plan_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_service_plan_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_staff_id"], ["staff.id"], name=op.f("fk_service_plan_owner_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["store.id"], name=op.f("fk_service_plan_store_id_store")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_plan")),
    )
    with op.batch_alter_table("service_plan", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_plan_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "service_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("done_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["done_by_staff_id"], ["staff.id"], name=op.f("fk_service_step_done_by_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["service_plan.id"],
            name=op.f("fk_service_step_plan_id_service_plan"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_step")),
    )
    with op.batch_alter_table("service_step", schema=None) as batch_op:
        batch_op.create_index("ix_service_step_done_on_due_on", ["done_on", "due_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_service_step_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "complaint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee_staff_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("first_response_due_at", sa.DateTime(), nullable=False),
        sa.Column("resolution_due_at", sa.DateTime(), nullable=False),
        sa.Column("first_response_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("escalated_at", sa.DateTime(), nullable=True),
        sa.Column("escalated_to_staff_id", sa.Integer(), nullable=True),
        sa.Column("recovery_action", sa.String(length=16), nullable=True),
        sa.Column("recovery_points", sa.Integer(), nullable=False),
        sa.Column("recovery_coupon_id", sa.Integer(), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("satisfaction", sa.SmallInteger(), nullable=True),
        sa.Column("source_task_id", sa.Integer(), nullable=True),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "severity IN ('low', 'medium', 'high', 'critical')",
            name=op.f("ck_complaint_severity_known"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'in_progress', 'resolved', 'closed')",
            name=op.f("ck_complaint_status_known"),
        ),
        sa.CheckConstraint(
            "recovery_points >= 0", name=op.f("ck_complaint_recovery_points_not_negative")
        ),
        sa.CheckConstraint(
            "satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5",
            name=op.f("ck_complaint_satisfaction_range"),
        ),
        sa.ForeignKeyConstraint(
            ["assignee_staff_id"], ["staff.id"], name=op.f("fk_complaint_assignee_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_complaint_created_by_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_complaint_customer_id_customer"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["escalated_to_staff_id"],
            ["staff.id"],
            name=op.f("fk_complaint_escalated_to_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["recovery_coupon_id"],
            ["coupon.id"],
            name=op.f("fk_complaint_recovery_coupon_id_coupon"),
        ),
        sa.ForeignKeyConstraint(
            ["source_task_id"], ["care_task.id"], name=op.f("fk_complaint_source_task_id_care_task")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["store.id"], name=op.f("fk_complaint_store_id_store")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint")),
    )
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.create_index(
            "ix_complaint_assignee_staff_id_status", ["assignee_staff_id", "status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_complaint_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaint_opened_at"), ["opened_at"], unique=False)
        batch_op.create_index(
            "ix_complaint_status_resolution_due_at", ["status", "resolution_due_at"], unique=False
        )
        batch_op.create_index("ix_complaint_store_id_status", ["store_id", "status"], unique=False)

    op.create_table(
        "complaint_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor_staff_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_staff_id"], ["staff.id"], name=op.f("fk_complaint_event_actor_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaint.id"],
            name=op.f("fk_complaint_event_complaint_id_complaint"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_event")),
    )
    with op.batch_alter_table("complaint_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_complaint_event_complaint_id"), ["complaint_id"], unique=False
        )

    op.create_table(
        "public_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("survey_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("complaint_id", sa.Integer(), nullable=True),
        sa.Column("max_uses", sa.SmallInteger(), nullable=False),
        sa.Column("uses", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('feedback', 'survey', 'rsvp', 'satisfaction')",
            name=op.f("ck_public_link_purpose_known"),
        ),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaint.id"], name=op.f("fk_public_link_complaint_id_complaint")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_public_link_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["club_event.id"], name=op.f("fk_public_link_event_id_club_event")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["store.id"], name=op.f("fk_public_link_store_id_store")
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["survey.id"], name=op.f("fk_public_link_survey_id_survey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_link")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_public_link_token_hash")),
    )
    with op.batch_alter_table("public_link", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_public_link_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "survey_response",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("link_id", sa.Integer(), nullable=True),
        sa.Column("complaint_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("nps", sa.SmallInteger(), nullable=True),
        sa.Column("csat", sa.SmallInteger(), nullable=True),
        sa.Column("overall", sa.SmallInteger(), nullable=True),
        sa.Column("repurchase", sa.SmallInteger(), nullable=True),
        sa.Column("share_of_wallet", sa.SmallInteger(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "csat IS NULL OR csat BETWEEN 1 AND 5", name=op.f("ck_survey_response_csat_range")
        ),
        sa.CheckConstraint(
            "nps IS NULL OR nps BETWEEN 0 AND 10", name=op.f("ck_survey_response_nps_range")
        ),
        sa.CheckConstraint(
            "overall IS NULL OR overall BETWEEN 1 AND 7",
            name=op.f("ck_survey_response_overall_range"),
        ),
        sa.CheckConstraint(
            "repurchase IS NULL OR repurchase BETWEEN 1 AND 5",
            name=op.f("ck_survey_response_repurchase_range"),
        ),
        sa.CheckConstraint(
            "share_of_wallet IS NULL OR share_of_wallet BETWEEN 0 AND 100",
            name=op.f("ck_survey_response_share_of_wallet_range"),
        ),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaint.id"],
            name=op.f("fk_survey_response_complaint_id_complaint"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_survey_response_customer_id_customer"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["link_id"], ["public_link.id"], name=op.f("fk_survey_response_link_id_public_link")
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["survey.id"],
            name=op.f("fk_survey_response_survey_id_survey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_response")),
    )
    with op.batch_alter_table("survey_response", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_survey_response_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_survey_response_survey_id_submitted_at", ["survey_id", "submitted_at"], unique=False
        )

    op.create_table(
        "survey_answer",
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("attribute", sa.String(length=64), nullable=False),
        sa.Column("expected", sa.SmallInteger(), nullable=False),
        sa.Column("perceived", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint(
            "expected BETWEEN 1 AND 7", name=op.f("ck_survey_answer_expected_range")
        ),
        sa.CheckConstraint(
            "perceived BETWEEN 1 AND 7", name=op.f("ck_survey_answer_perceived_range")
        ),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["survey_response.id"],
            name=op.f("fk_survey_answer_response_id_survey_response"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("response_id", "attribute", name=op.f("pk_survey_answer")),
    )


def downgrade() -> None:

    op.drop_table("survey_answer")
    with op.batch_alter_table("survey_response", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_response_survey_id_submitted_at")
        batch_op.drop_index(batch_op.f("ix_survey_response_customer_id"))

    op.drop_table("survey_response")
    with op.batch_alter_table("public_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_public_link_customer_id"))

    op.drop_table("public_link")
    with op.batch_alter_table("complaint_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaint_event_complaint_id"))

    op.drop_table("complaint_event")
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.drop_index("ix_complaint_store_id_status")
        batch_op.drop_index("ix_complaint_status_resolution_due_at")
        batch_op.drop_index(batch_op.f("ix_complaint_opened_at"))
        batch_op.drop_index(batch_op.f("ix_complaint_customer_id"))
        batch_op.drop_index("ix_complaint_assignee_staff_id_status")

    op.drop_table("complaint")
    with op.batch_alter_table("service_step", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_step_plan_id"))
        batch_op.drop_index("ix_service_step_done_on_due_on")

    op.drop_table("service_step")
    with op.batch_alter_table("service_plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_plan_customer_id"))

    op.drop_table("service_plan")
    with op.batch_alter_table("event_rsvp", schema=None) as batch_op:
        batch_op.drop_index("ix_event_rsvp_event_id_status")
        batch_op.drop_index(batch_op.f("ix_event_rsvp_customer_id"))

    op.drop_table("event_rsvp")
    with op.batch_alter_table("club_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_club_member_customer_id"))

    op.drop_table("club_member")
    op.drop_table("survey")
    with op.batch_alter_table("club_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_club_event_starts_at"))
        batch_op.drop_index(batch_op.f("ix_club_event_club_id"))

    op.drop_table("club_event")
    op.drop_table("club")
