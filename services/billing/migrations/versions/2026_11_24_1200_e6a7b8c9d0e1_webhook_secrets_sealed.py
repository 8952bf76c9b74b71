"""Webhook signing secrets sealed at rest (BILLING_SECRET_KEYS).

Expand only: `secret_key_id` names the key that sealed `secret`; existing rows
keep a NULL key id and their plaintext, which billing still reads, until an
operator runs `python -m services.billing rotate-secrets` (sealing needs the
keys, which migrations do not have).

Revision ID: e6a7b8c9d0e1
Revises: d5f6a7b8c9d0
Create Date: 2026-11-24 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "e6a7b8c9d0e1"
down_revision = "d5f6a7b8c9d0"
branch_labels = None
depends_on = None

S = "billing"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column(
        "webhook_endpoints", sa.Column("secret_key_id", sa.Text(), nullable=True), schema=S
    )


def downgrade() -> None:
    op.drop_column("webhook_endpoints", "secret_key_id", schema=S)
