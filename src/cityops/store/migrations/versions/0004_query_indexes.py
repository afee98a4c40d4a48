"""query indexes: indexes for the dashboard, evaluation and intake paths at scale

The period reads of the dashboard and the evaluation become index-only: the log's (action, at)
index, the stage runs' (stage, ended_at) index and the cases' closed_at index are widened with
the columns those reads take (case_id, actor_id; case_id, due_at; state).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 10:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_closed_at")
        batch_op.create_index("ix_cases_closed_at_state", ["closed_at", "state"], unique=False)
    with op.batch_alter_table("case_log", schema=None) as batch_op:
        batch_op.drop_index("ix_case_log_action_at")
        batch_op.create_index(
            "ix_case_log_action_at_cover", ["action", "at", "case_id", "actor_id"], unique=False
        )
    with op.batch_alter_table("case_stage", schema=None) as batch_op:
        batch_op.drop_index("ix_case_stage_stage_ended")
        batch_op.create_index(
            "ix_case_stage_stage_ended_cover",
            ["stage", "ended_at", "case_id", "due_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("case_stage", schema=None) as batch_op:
        batch_op.drop_index("ix_case_stage_stage_ended_cover")
        batch_op.create_index("ix_case_stage_stage_ended", ["stage", "ended_at"], unique=False)
    with op.batch_alter_table("case_log", schema=None) as batch_op:
        batch_op.drop_index("ix_case_log_action_at_cover")
        batch_op.create_index("ix_case_log_action_at", ["action", "at"], unique=False)
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_closed_at_state")
        batch_op.create_index("ix_cases_closed_at", ["closed_at"], unique=False)
