"""Ledger: cancelled charge keys (CancelCharge), so a voided invoice can never be charged late.

Revision ID: c4e1a7b93d20
Revises: 5a1d9e7c0b01
Create Date: 2026-12-07 02:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "c4e1a7b93d20"
down_revision = "5a1d9e7c0b01"
branch_labels = None
depends_on = None

S = "ledger"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_table(
        "cancelled_charges",
        sa.Column("idempotency_scope", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            [f"{S}.accounts.id"],
            name="fk_cancelled_charges_account_id_accounts",
        ),
        sa.PrimaryKeyConstraint(
            "idempotency_scope", "idempotency_key", name="pk_cancelled_charges"
        ),
        schema=S,
    )
    # A cancellation is forever: deleting one would let its charge post again.
    op.execute(
        f"CREATE TRIGGER cancelled_charges_append_only BEFORE UPDATE OR DELETE "
        f"ON {S}.cancelled_charges FOR EACH ROW EXECUTE FUNCTION {S}.refuse_change()"
    )


def downgrade() -> None:
    op.drop_table("cancelled_charges", schema=S)
