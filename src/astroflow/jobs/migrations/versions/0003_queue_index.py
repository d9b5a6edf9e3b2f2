"""An index for the per-caller queue count asked at every submission.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_state_owner", "jobs", ["state", "owner"])


def downgrade() -> None:
    op.drop_index("ix_jobs_state_owner", table_name="jobs")
