"""The ledger schema, owned by the payment core alone.

Platform accounts (fee revenue, credits issued, charges collected) carry no
cached balance: their balance is derived from lines. That is the answer to the
fee-revenue hot spot: every transfer writes a line to the fee account, an
INSERT that never waits on another transaction, instead of updating one
shared row that would serialise the whole system.
Agent accounts keep a cached `balance` (needed under the row lock to refuse an
overdraft); a test asserts it always equals the sum of its lines.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import BYTEA, JSONB, UUID

from services.common.schema import service_metadata

SCHEMA = "ledger"

metadata = service_metadata(SCHEMA)

holders = sa.Table(
    "holders",
    metadata,
    sa.Column("owner_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("tier", sa.Text, nullable=False, server_default="free"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("tier IN ('free', 'pro', 'enterprise')", name="tier"),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("owner_id", UUID(as_uuid=True), sa.ForeignKey(holders.c.owner_id), nullable=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("asset", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("balance", sa.BigInteger, nullable=True),
    sa.Column("audit_seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("audit_head", BYTEA, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('agent', 'platform')", name="kind"),
    sa.CheckConstraint("(kind = 'agent') = (owner_id IS NOT NULL)", name="owner_matches_kind"),
    sa.CheckConstraint(
        "kind <> 'agent' OR (balance IS NOT NULL AND balance >= 0)", name="agent_balance"
    ),
    sa.CheckConstraint("kind <> 'platform' OR balance IS NULL", name="platform_balance_derived"),
    sa.Index("uq_accounts_owner_id_asset_name", "owner_id", "asset", "name", unique=True),
    sa.Index(
        "uq_accounts_platform_asset_name",
        "asset",
        "name",
        unique=True,
        postgresql_where=sa.text("owner_id IS NULL"),
    ),
    postgresql_with={"fillfactor": 70},  # room for HOT balance updates
)

entries = sa.Table(
    "entries",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("idempotency_scope", sa.Text, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=False),
    sa.Column("request_hash", BYTEA, nullable=False),
    sa.Column("asset", sa.Text, nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("fee", sa.BigInteger, nullable=False),
    sa.Column("fee_bps", sa.Integer, nullable=False),
    sa.Column("debit_account_id", sa.BigInteger, sa.ForeignKey(accounts.c.id), nullable=False),
    sa.Column("credit_account_id", sa.BigInteger, sa.ForeignKey(accounts.c.id), nullable=False),
    sa.Column("payer_owner_id", UUID(as_uuid=True), nullable=True),
    sa.Column("payee_owner_id", UUID(as_uuid=True), nullable=True),
    sa.Column("from_label", sa.Text, nullable=False),
    sa.Column("to_label", sa.Text, nullable=False),
    sa.Column("from_account", sa.Text, nullable=False),
    sa.Column("to_account", sa.Text, nullable=False),
    sa.Column("memo", sa.Text, nullable=True),
    sa.Column("related_entry_id", UUID(as_uuid=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("signer", sa.Text, nullable=False),
    sa.Column("signing_key", sa.Text, nullable=False),
    sa.Column("signature", sa.Text, nullable=False),
    # Hex SHA-256 of the idempotency key, signed into the receipt so a client can
    # tell its own payment's receipt from an older one (NULL: signed before it existed).
    sa.Column("idempotency_key_sha256", sa.Text, nullable=True),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
    sa.CheckConstraint("fee >= 0 AND fee < amount", name="fee_range"),
    sa.UniqueConstraint("idempotency_scope", "idempotency_key"),
    sa.Index(
        "ix_entries_payer_history",
        "payer_owner_id",
        sa.text("created_at DESC"),
        sa.text("id DESC"),
        postgresql_where=sa.text("payer_owner_id IS NOT NULL"),
    ),
    sa.Index(
        "ix_entries_payee_history",
        "payee_owner_id",
        sa.text("created_at DESC"),
        sa.text("id DESC"),
        postgresql_where=sa.text("payee_owner_id IS NOT NULL"),
    ),
    sa.Index(
        "ix_entries_related_entry_id",
        "related_entry_id",
        postgresql_where=sa.text("related_entry_id IS NOT NULL"),
    ),
)

lines = sa.Table(
    "lines",
    metadata,
    sa.Column("entry_id", UUID(as_uuid=True), sa.ForeignKey(entries.c.id), primary_key=True),
    sa.Column("line_no", sa.SmallInteger, primary_key=True),
    sa.Column("account_id", sa.BigInteger, sa.ForeignKey(accounts.c.id), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.CheckConstraint("amount <> 0", name="amount_nonzero"),
    sa.Index("ix_lines_account_id", "account_id"),
)

# Charge idempotency keys the caller gave up on (CancelCharge). A charge under a
# key listed here is refused, so a caller that cancels and then voids its
# invoice knows no late or retried charge can still take the money. Only keys
# that never posted are listed: a key that posted is answered with its receipt.
cancelled_charges = sa.Table(
    "cancelled_charges",
    metadata,
    sa.Column("idempotency_scope", sa.Text, primary_key=True),
    sa.Column("idempotency_key", sa.Text, primary_key=True),
    sa.Column("account_id", sa.BigInteger, sa.ForeignKey(accounts.c.id), nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=False),
)

monthly_counters = sa.Table(
    "monthly_counters",
    metadata,
    sa.Column("owner_id", UUID(as_uuid=True), sa.ForeignKey(holders.c.owner_id), primary_key=True),
    sa.Column("month", sa.Date, primary_key=True),
    sa.Column("transfers", sa.Integer, nullable=False),
    postgresql_with={"fillfactor": 70},
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("account_id", sa.BigInteger, sa.ForeignKey(accounts.c.id), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("entry_id", UUID(as_uuid=True), nullable=True),
    sa.Column("details", JSONB, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("prev_hmac", BYTEA, nullable=True),
    sa.Column("hmac", BYTEA, nullable=False),
)
