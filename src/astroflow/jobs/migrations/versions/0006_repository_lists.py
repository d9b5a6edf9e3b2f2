"""Repositories' topics and services are never null, as the model says (empty lists).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_COLUMNS = ("topics", "services")


def upgrade() -> None:
    for column in _COLUMNS:
        op.execute(f"UPDATE repositories SET {column} = '[]' WHERE {column} IS NULL")
    with op.batch_alter_table("repositories") as batch:
        for column in _COLUMNS:
            batch.alter_column(column, existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("repositories") as batch:
        for column in _COLUMNS:
            batch.alter_column(column, existing_type=sa.JSON(), nullable=True)
