"""A subscription's invoices of every kind by index (its open ones, those paying a cycle).

Revision ID: b2d4e6f8a0c1
Revises: a9c1d2e3f4b5
Create Date: 2026-12-07 07:00:00
"""

from alembic import op

revision = "b2d4e6f8a0c1"
down_revision = "a9c1d2e3f4b5"
branch_labels = None
depends_on = None

S = "billing"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_index(
        "ix_invoices_subscription_id_cycle", "invoices", ["subscription_id", "cycle"], schema=S
    )


def downgrade() -> None:
    op.drop_index("ix_invoices_subscription_id_cycle", table_name="invoices", schema=S)
