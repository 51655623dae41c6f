"""dataset_versions: label, split sizes, profile and served input columns kept on the row

Listing dataset versions read each version's manifest from the artifact store (one S3 GET per
version); the row now keeps what a listing shows. Rows from before stay NULL here (the migration
has no artifact store to read their manifests from) and read their manifest when loaded.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COLUMNS = ("label", "train_rows", "test_rows", "profile", "input_columns")


def upgrade() -> None:
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("label", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("train_rows", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("test_rows", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("profile", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("input_columns", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        for name in reversed(_COLUMNS):
            batch_op.drop_column(name)
