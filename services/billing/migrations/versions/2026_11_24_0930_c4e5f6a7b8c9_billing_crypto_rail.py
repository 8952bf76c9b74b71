"""Billing's crypto rail: invoices paid on-chain through key-server charges.

Adds the payment rail of invoices and upgrade requests (existing rows are
`balance`), the crypto charge behind each crypto invoice, and the record of
every signed charge callback accepted (one row per key-server event id).

Revision ID: c4e5f6a7b8c9
Revises: b1a2c3d4e5f6
Create Date: 2026-11-24 09:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "c4e5f6a7b8c9"
down_revision = "b1a2c3d4e5f6"
branch_labels = None
depends_on = None

S = "billing"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column(
        "invoices",
        sa.Column("rail", sa.Text(), server_default="balance", nullable=False),
        schema=S,
    )
    op.create_check_constraint(
        op.f("ck_invoices_rail"), "invoices", "rail IN ('balance', 'crypto')", schema=S
    )
    op.add_column(
        "upgrade_requests",
        sa.Column("pay_with", sa.Text(), server_default="balance", nullable=False),
        schema=S,
    )
    op.create_check_constraint(
        op.f("ck_upgrade_requests_pay_with"),
        "upgrade_requests",
        "pay_with IN ('balance', 'crypto')",
        schema=S,
    )
    op.create_table(
        "crypto_charges",
        sa.Column("invoice_id", sa.UUID(), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("quote_id", sa.UUID(), nullable=False),
        sa.Column("chain", sa.Text(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("expires_in_seconds", sa.Integer(), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=False),
        sa.Column("charge_id", sa.UUID(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("charge_status", sa.Text(), nullable=True),
        sa.Column("amount_received", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("txids", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("paid_late", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_crypto_charges_amount_positive")),
        sa.CheckConstraint(
            "amount_received >= 0", name=op.f("ck_crypto_charges_received_not_negative")
        ),
        sa.CheckConstraint(
            "charge_id IS NULL OR (address IS NOT NULL AND expires_at IS NOT NULL)",
            name=op.f("ck_crypto_charges_opened_has_address"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            [f"{S}.invoices.id"],
            name=op.f("fk_crypto_charges_invoice_id_invoices"),
        ),
        sa.ForeignKeyConstraint(
            ["quote_id"], [f"{S}.quotes.id"], name=op.f("fk_crypto_charges_quote_id_quotes")
        ),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_crypto_charges")),
        sa.UniqueConstraint("charge_id", name=op.f("uq_crypto_charges_charge_id")),
        schema=S,
    )
    op.create_index(
        "ix_crypto_charges_agent_id_created_at",
        "crypto_charges",
        ["agent_id", "created_at"],
        unique=False,
        schema=S,
    )
    op.create_table(
        "charge_events",
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("charge_id", sa.UUID(), nullable=False),
        sa.Column("invoice_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            [f"{S}.invoices.id"],
            name=op.f("fk_charge_events_invoice_id_invoices"),
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_charge_events")),
        schema=S,
    )
    op.create_index(
        "ix_charge_events_charge_id", "charge_events", ["charge_id"], unique=False, schema=S
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_index("ix_charge_events_charge_id", table_name="charge_events", schema=S)
    op.drop_table("charge_events", schema=S)
    op.drop_index("ix_crypto_charges_agent_id_created_at", table_name="crypto_charges", schema=S)
    op.drop_table("crypto_charges", schema=S)
    op.drop_constraint(
        op.f("ck_upgrade_requests_pay_with"), "upgrade_requests", type_="check", schema=S
    )
    op.drop_column("upgrade_requests", "pay_with", schema=S)
    op.drop_constraint(op.f("ck_invoices_rail"), "invoices", type_="check", schema=S)
    op.drop_column("invoices", "rail", schema=S)
