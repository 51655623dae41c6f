"""functions, their versions and aliases; access keys

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_keys",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "functions",
        sa.Column("name", sa.String(length=140), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("code_sha256", sa.String(length=64), nullable=True),
        sa.Column("model_ref", sa.String(length=400), nullable=True),
        sa.Column("reserved_concurrency", sa.Integer(), nullable=True),
        sa.Column("revision_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "function_aliases",
        sa.Column("function", sa.String(length=140), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=20), nullable=False),
        sa.Column("routing", sa.JSON(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("revision_id", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["function"], ["functions.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("function", "name"),
    )
    op.create_table(
        "function_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("function", sa.String(length=140), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("code_sha256", sa.String(length=64), nullable=True),
        sa.Column("model_version", sa.String(length=400), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["function"], ["functions.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("function", "number"),
    )
    with op.batch_alter_table("function_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_function_versions_function"), ["function"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("function_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_function_versions_function"))

    op.drop_table("function_versions")
    op.drop_table("function_aliases")
    op.drop_table("functions")
    op.drop_table("access_keys")
