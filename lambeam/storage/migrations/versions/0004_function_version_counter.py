"""functions: the highest version number ever published, so numbers are never reused

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
    with op.batch_alter_table("functions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_version", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("functions", schema=None) as batch_op:
        batch_op.drop_column("last_version")
