"""Immediate downgrades are idempotent: the client's key, its request's
fingerprint and the answer given are kept on the downgrade.

Expand only: earlier downgrades keep NULLs (they were made without a key).

Revision ID: f7b8c9d0e1f2
Revises: e6a7b8c9d0e1
Create Date: 2026-12-07 01:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "f7b8c9d0e1f2"
down_revision = "e6a7b8c9d0e1"
branch_labels = None
depends_on = None

S = "billing"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("downgrades", sa.Column("idempotency_key", sa.Text(), nullable=True), schema=S)
    op.add_column(
        "downgrades", sa.Column("request_hash", postgresql.BYTEA(), nullable=True), schema=S
    )
    op.add_column(
        "downgrades",
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema=S,
    )
    op.create_unique_constraint(
        op.f("uq_downgrades_agent_id_idempotency_key"),
        "downgrades",
        ["agent_id", "idempotency_key"],
        schema=S,
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("uq_downgrades_agent_id_idempotency_key"), "downgrades", schema=S, type_="unique"
    )
    op.drop_column("downgrades", "response", schema=S)
    op.drop_column("downgrades", "request_hash", schema=S)
    op.drop_column("downgrades", "idempotency_key", schema=S)
