"""Storage lifecycle: a job's stored bytes, last use and expiry; leases for the one sweeper.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("stored_bytes", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("last_used", sa.Float(), nullable=True))
        batch.add_column(sa.Column("expired", sa.Float(), nullable=True))
    op.create_index("ix_jobs_expired", "jobs", ["expired"])
    op.create_index("ix_jobs_requester_created", "jobs", ["requester", "created"])
    op.create_index("ix_jobs_state_used", "jobs", ["state", "last_used"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_index("ix_jobs_state_used", table_name="jobs")
    op.drop_index("ix_jobs_requester_created", table_name="jobs")
    op.drop_index("ix_jobs_expired", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("expired")
        batch.drop_column("last_used")
        batch.drop_column("stored_bytes")
