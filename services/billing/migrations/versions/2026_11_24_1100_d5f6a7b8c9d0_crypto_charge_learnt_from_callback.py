"""A crypto charge's id may be learnt from its callback before its address.

When the key server's answer to POST /charges is lost (or overtaken by the
charge's first callback), billing finds the intent by its reference and records
the charge id from the callback, which carries no address. The address and
expiry still come together, from the answer.

Revision ID: d5f6a7b8c9d0
Revises: c4e5f6a7b8c9
Create Date: 2026-11-24 11:00:00
"""

from alembic import op

revision = "d5f6a7b8c9d0"
down_revision = "c4e5f6a7b8c9"
branch_labels = None
depends_on = None

S = "billing"
OLD = "charge_id IS NULL OR (address IS NOT NULL AND expires_at IS NOT NULL)"
NEW = "(address IS NULL) = (expires_at IS NULL) AND (address IS NULL OR charge_id IS NOT NULL)"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_constraint(op.f("ck_crypto_charges_opened_has_address"), "crypto_charges", schema=S)
    op.create_check_constraint(
        op.f("ck_crypto_charges_address_with_expiry"), "crypto_charges", NEW, schema=S
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_crypto_charges_address_with_expiry"), "crypto_charges", schema=S)
    op.create_check_constraint(
        op.f("ck_crypto_charges_opened_has_address"), "crypto_charges", OLD, schema=S
    )
