"""Voids whose charge was found posted owe a refund: an index to find them each sweep.

Revision ID: a9c1d2e3f4b5
Revises: f7b8c9d0e1f2
Create Date: 2026-12-07 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "a9c1d2e3f4b5"
down_revision = "f7b8c9d0e1f2"
branch_labels = None
depends_on = None

S = "billing"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_index(
        "ix_invoices_void_refund_due",
        "invoices",
        ["agent_id"],
        schema=S,
        postgresql_where=sa.text(
            "status = 'void' AND rail = 'balance' AND charge_id IS NOT NULL "
            "AND refunded_minor < amount_minor"
        ),
    )


def downgrade() -> None:
    op.drop_index("ix_invoices_void_refund_due", table_name="invoices", schema=S)
