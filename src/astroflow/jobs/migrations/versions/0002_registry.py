"""Registry tables: followed repositories and deployment attempts.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "repositories",
        sa.Column("name", sa.String(300), primary_key=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=True),
        sa.Column("active_version", sa.String(64), nullable=True),
        sa.Column("active_path", sa.Text(), nullable=True),
        sa.Column("active_python", sa.Text(), nullable=True),
        sa.Column("activated", sa.Float(), nullable=True),
        sa.Column("services", sa.JSON(), nullable=True),
    )
    op.create_table(
        "deploy_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("repository", sa.String(300), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("log_tail", sa.Text(), nullable=True),
        sa.Column("started", sa.Float(), nullable=False),
        sa.Column("finished", sa.Float(), nullable=True),
    )
    op.create_index("ix_deploy_attempts_repository", "deploy_attempts", ["repository"])


def downgrade() -> None:
    op.drop_table("deploy_attempts")
    op.drop_table("repositories")
