"""event invoke configs remember who made them

`event_invoke_configs.origin` is "toml" for a config `lambeam apply` wrote from
`[functions.NAME.async]`, "api" for one made through the Lambda API, REST or the CLI: `apply`
removes only its own when the table goes away, as it does for every other event row.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("event_invoke_configs") as batch:
        batch.add_column(
            sa.Column("origin", sa.String(length=20), nullable=False, server_default="api")
        )


def downgrade() -> None:
    with op.batch_alter_table("event_invoke_configs") as batch:
        batch.drop_column("origin")
