"""Ledger: entries keep the SHA-256 of their idempotency key, signed into the receipt.

Nullable and without a default, so adding it rewrites nothing: entries signed
before it existed keep NULL, and their receipts stay byte for byte as signed.

Revision ID: d5f2b8c04e31
Revises: c4e1a7b93d20
Create Date: 2026-12-07 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "d5f2b8c04e31"
down_revision = "c4e1a7b93d20"
branch_labels = None
depends_on = None

S = "ledger"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("entries", sa.Column("idempotency_key_sha256", sa.Text, nullable=True), schema=S)


def downgrade() -> None:
    op.drop_column("entries", "idempotency_key_sha256", schema=S)
