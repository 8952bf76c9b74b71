"""The expiry sweep's index also holds seen charges (judged at the expiry).

Revision ID: c5e7a9b1d3f2
Revises: 3b8f2d6e9a41
Create Date: 2026-12-07 07:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "c5e7a9b1d3f2"
down_revision = "3b8f2d6e9a41"
branch_labels = None
depends_on = None

S = "key_server"


def _replace(predicate: str) -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_index("ix_charges_expires_at", table_name="charges", schema=S)
    op.create_index(
        "ix_charges_expires_at",
        "charges",
        ["expires_at"],
        schema=S,
        postgresql_where=sa.text(predicate),
    )


def upgrade() -> None:
    _replace("status IN ('pending', 'seen')")


def downgrade() -> None:
    _replace("status = 'pending'")
