"""fewer case indexes: drop the three that no query needs

``ix_cases_state`` and ``ix_cases_department`` are prefixes of ``ix_cases_state_due`` and
``ix_cases_department_state_due``, which serve every query they served; ``ix_cases_source``
indexes six values, which no planner uses as a filter. Each index costs every intake and every
action that changes the column (docs/benchmarks.md, Intake).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 15:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROPPED = (
    ("ix_cases_state", "state"),
    ("ix_cases_department", "department"),
    ("ix_cases_source", "source"),
)


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for name, _column in DROPPED:
            batch_op.drop_index(name)


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for name, column in DROPPED:
            batch_op.create_index(name, [column], unique=False)
