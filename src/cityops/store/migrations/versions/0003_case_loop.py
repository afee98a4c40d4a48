"""case loop: cases, stage clocks, hash-chained log, tasks, attachments, outbox, standards, dispatch rules, calendar days, Open311 keys and submissions, evaluation snapshots

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 09:52:48.971647
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cityops.store.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("contact", sa.String(length=200), nullable=False),
        sa.Column("rate_per_minute", sa.Integer(), nullable=False),
        sa.Column("created_at", cityops.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", cityops.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_key_key_hash")),
    )
    op.create_table(
        "calendar_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("note", sa.String(length=100), nullable=False),
        sa.CheckConstraint("kind in ('holiday', 'workday')", name=op.f("ck_calendar_day_kind")),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_calendar_day")),
    )
    op.create_table(
        "case_number_seq",
        sa.Column("prefix", sa.String(length=20), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", name=op.f("pk_case_number_seq")),
    )
    op.create_table(
        "case_standard",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type_code", sa.String(length=5), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("condition", sa.String(length=300), nullable=False),
        sa.Column("closing_condition", sa.String(length=300), nullable=False),
        sa.Column("time_limit", sa.String(length=40), nullable=False),
        sa.Column("handling_unit", sa.String(length=100), nullable=False),
        sa.Column("supervising_department", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_standard")),
    )
    with op.batch_alter_table("case_standard", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_standard_type_code"), ["type_code"], unique=False)
        batch_op.create_index(
            "uq_case_standard_type_condition", ["type_code", "condition"], unique=True
        )

    op.create_table(
        "dispatch_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type_code", sa.String(length=5), nullable=True),
        sa.Column("major_code", sa.String(length=2), nullable=True),
        sa.Column("area", sa.String(length=15), nullable=True),
        sa.Column("component_owner", sa.String(length=32), nullable=True),
        sa.Column("department", sa.String(length=32), nullable=False),
        sa.Column("auto_dispatch", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_rule")),
    )
    op.create_table(
        "attachment",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=50), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", cityops.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["app_user.id"], name=op.f("fk_attachment_uploaded_by_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment")),
    )
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attachment_sha256"), ["sha256"], unique=False)

    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("type_code", sa.String(length=5), nullable=True),
        sa.Column("condition", sa.String(length=300), nullable=True),
        sa.Column("handling_limit", sa.String(length=80), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("community_code", sa.String(length=12), nullable=True),
        sa.Column("street_code", sa.String(length=9), nullable=True),
        sa.Column("district_code", sa.String(length=6), nullable=True),
        sa.Column("component_id", sa.String(length=17), nullable=True),
        sa.Column("department", sa.String(length=32), nullable=True),
        sa.Column("handler_id", sa.Integer(), nullable=True),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column("reporter_name", sa.String(length=50), nullable=False),
        sa.Column("reporter_phone", sa.String(length=30), nullable=False),
        sa.Column("reporter_contact", sa.String(length=200), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("self_handled", sa.Boolean(), nullable=False),
        sa.Column("task_kind", sa.String(length=10), nullable=True),
        sa.Column("task_assignee_id", sa.Integer(), nullable=True),
        sa.Column("task_opened_at", cityops.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("check_result", sa.Boolean(), nullable=True),
        sa.Column("verify_result", sa.Boolean(), nullable=True),
        sa.Column("pending_extension", sa.String(length=40), nullable=True),
        sa.Column("pending_suspension", sa.String(length=300), nullable=True),
        sa.Column("suspended_from", sa.String(length=20), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("close_reason", sa.String(length=20), nullable=True),
        sa.Column("returns", sa.Integer(), nullable=False),
        sa.Column("reworks", sa.Integer(), nullable=False),
        sa.Column("extensions", sa.Integer(), nullable=False),
        sa.Column("urges", sa.Integer(), nullable=False),
        sa.Column("supervisions", sa.Integer(), nullable=False),
        sa.Column("reported_at", cityops.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("registered_at", cityops.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("dispatched_at", cityops.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("handled_at", cityops.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", cityops.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("stage", sa.String(length=10), nullable=True),
        sa.Column("warn_at", cityops.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("due_at", cityops.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("method_721", sa.String(length=12), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.String(length=500), nullable=False),
        sa.Column("updated_at", cityops.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["handler_id"], ["app_user.id"], name=op.f("fk_cases_handler_id_app_user")
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["cases.id"], name=op.f("fk_cases_parent_id_cases")),
        sa.ForeignKeyConstraint(
            ["reporter_id"], ["app_user.id"], name=op.f("fk_cases_reporter_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["task_assignee_id"], ["app_user.id"], name=op.f("fk_cases_task_assignee_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_cases_idempotency_key")),
        sa.UniqueConstraint("number", name=op.f("uq_cases_number")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_closed_at"), ["closed_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_cases_community_code"), ["community_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cases_component_id"), ["component_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_department"), ["department"], unique=False)
        batch_op.create_index(
            "ix_cases_department_state_due", ["department", "state", "due_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cases_district_code"), ["district_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_grid_code"), ["grid_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_handler_id"), ["handler_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_reported_at"), ["reported_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_reporter_id"), ["reporter_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_source"), ["source"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_state"), ["state"], unique=False)
        batch_op.create_index("ix_cases_state_due", ["state", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_street_code"), ["street_code"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_cases_task_assignee_id"), ["task_assignee_id"], unique=False
        )
        batch_op.create_index(
            "ix_cases_type_reported_position",
            ["type_code", "reported_at", "lon", "lat", "state"],
            unique=False,
        )

    op.create_table(
        "evaluation_snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=30), nullable=False),
        sa.Column("subject_type", sa.String(length=20), nullable=False),
        sa.Column("scheme_name", sa.String(length=60), nullable=False),
        sa.Column("scheme_version", sa.String(length=64), nullable=False),
        sa.Column("scheme", sa.Text(), nullable=False),
        sa.Column("results", sa.Text(), nullable=False),
        sa.Column("published_at", cityops.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.Integer(), nullable=True),
        sa.Column("superseded_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["published_by"],
            ["app_user.id"],
            name=op.f("fk_evaluation_snapshot_published_by_app_user"),
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by"],
            ["evaluation_snapshot.id"],
            name=op.f("fk_evaluation_snapshot_superseded_by_evaluation_snapshot"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_snapshot")),
    )
    with op.batch_alter_table("evaluation_snapshot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evaluation_snapshot_period"), ["period"], unique=False)
        batch_op.create_index(
            "ix_evaluation_snapshot_period_subject", ["period", "subject_type"], unique=False
        )

    op.create_table(
        "case_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("at", cityops.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["app_user.id"], name=op.f("fk_case_log_actor_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_log_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_log")),
    )
    with op.batch_alter_table("case_log", schema=None) as batch_op:
        batch_op.create_index("ix_case_log_action_at", ["action", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_log_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_log_at"), ["at"], unique=False)
        batch_op.create_index("uq_case_log_case_seq", ["case_id", "seq"], unique=True)

    op.create_table(
        "case_stage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=10), nullable=False),
        sa.Column("started_at", cityops.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("time_limit", sa.String(length=80), nullable=False),
        sa.Column("due_at", cityops.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("warn_at", cityops.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", cityops.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("paused_at", cityops.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("pauses", sa.Text(), nullable=False),
        sa.Column(
            "overdue_notified_at", cityops.store.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_stage_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_stage")),
    )
    with op.batch_alter_table("case_stage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_stage_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_case_stage_open_due", ["ended_at", "due_at"], unique=False)
        batch_op.create_index("ix_case_stage_stage_ended", ["stage", "ended_at"], unique=False)
        batch_op.create_index(
            "uq_case_stage_case_stage_start", ["case_id", "stage", "started_at"], unique=True
        )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=30), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(length=60), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", cityops.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", cityops.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_outbox_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_pending", ["delivered_at", "id"], unique=False)

    op.create_table(
        "public_submission",
        sa.Column("token", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("created_at", cityops.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", cityops.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.CheckConstraint(
            "status in ('pending', 'accepted', 'rejected')",
            name=op.f("ck_public_submission_status"),
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_key.id"], name=op.f("fk_public_submission_api_key_id_api_key")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_public_submission_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_public_submission")),
    )
    with op.batch_alter_table("public_submission", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_public_submission_case_id"), ["case_id"], unique=False)

    op.create_table(
        "task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=False),
        sa.Column("opened_at", cityops.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("due_at", cityops.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", cityops.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("result", sa.Boolean(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint("kind in ('check', 'verify')", name=op.f("ck_task_kind")),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["app_user.id"], name=op.f("fk_task_assignee_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_task_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task")),
    )
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_assignee_open", ["assignee_id", "completed_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_task_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_case_id"))
        batch_op.drop_index("ix_task_assignee_open")

    op.drop_table("task")
    with op.batch_alter_table("public_submission", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_public_submission_case_id"))

    op.drop_table("public_submission")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")

    op.drop_table("outbox")
    with op.batch_alter_table("case_stage", schema=None) as batch_op:
        batch_op.drop_index("uq_case_stage_case_stage_start")
        batch_op.drop_index("ix_case_stage_stage_ended")
        batch_op.drop_index("ix_case_stage_open_due")
        batch_op.drop_index(batch_op.f("ix_case_stage_case_id"))

    op.drop_table("case_stage")
    with op.batch_alter_table("case_log", schema=None) as batch_op:
        batch_op.drop_index("uq_case_log_case_seq")
        batch_op.drop_index(batch_op.f("ix_case_log_at"))
        batch_op.drop_index(batch_op.f("ix_case_log_actor_id"))
        batch_op.drop_index("ix_case_log_action_at")

    op.drop_table("case_log")
    with op.batch_alter_table("evaluation_snapshot", schema=None) as batch_op:
        batch_op.drop_index("ix_evaluation_snapshot_period_subject")
        batch_op.drop_index(batch_op.f("ix_evaluation_snapshot_period"))

    op.drop_table("evaluation_snapshot")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_type_reported_position")
        batch_op.drop_index(batch_op.f("ix_cases_task_assignee_id"))
        batch_op.drop_index(batch_op.f("ix_cases_street_code"))
        batch_op.drop_index("ix_cases_state_due")
        batch_op.drop_index(batch_op.f("ix_cases_state"))
        batch_op.drop_index(batch_op.f("ix_cases_source"))
        batch_op.drop_index(batch_op.f("ix_cases_reporter_id"))
        batch_op.drop_index(batch_op.f("ix_cases_reported_at"))
        batch_op.drop_index(batch_op.f("ix_cases_parent_id"))
        batch_op.drop_index(batch_op.f("ix_cases_handler_id"))
        batch_op.drop_index(batch_op.f("ix_cases_grid_code"))
        batch_op.drop_index(batch_op.f("ix_cases_district_code"))
        batch_op.drop_index("ix_cases_department_state_due")
        batch_op.drop_index(batch_op.f("ix_cases_department"))
        batch_op.drop_index(batch_op.f("ix_cases_component_id"))
        batch_op.drop_index(batch_op.f("ix_cases_community_code"))
        batch_op.drop_index(batch_op.f("ix_cases_closed_at"))

    op.drop_table("cases")
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachment_sha256"))

    op.drop_table("attachment")
    op.drop_table("dispatch_rule")
    with op.batch_alter_table("case_standard", schema=None) as batch_op:
        batch_op.drop_index("uq_case_standard_type_condition")
        batch_op.drop_index(batch_op.f("ix_case_standard_type_code"))

    op.drop_table("case_standard")
    op.drop_table("case_number_seq")
    op.drop_table("calendar_day")
    op.drop_table("api_key")
