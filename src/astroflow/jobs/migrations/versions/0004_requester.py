"""Who asked for each job, for the per-caller queue limit (anonymous callers by address).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("requester", sa.String(200), nullable=True))
    op.execute("UPDATE jobs SET requester = owner")
    op.create_index("ix_jobs_state_requester", "jobs", ["state", "requester"])


def downgrade() -> None:
    op.drop_index("ix_jobs_state_requester", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("requester")
