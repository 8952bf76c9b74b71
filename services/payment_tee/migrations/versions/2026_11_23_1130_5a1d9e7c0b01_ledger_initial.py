"""Ledger: holders, accounts, journal entries and lines, monthly counters, audit log.

Revision ID: 5a1d9e7c0b01
Revises:
Create Date: 2026-11-23 11:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import BYTEA, JSONB, UUID

revision = "5a1d9e7c0b01"
down_revision = None
branch_labels = None
depends_on = None

S = "ledger"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_table(
        "holders",
        sa.Column("owner_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tier", sa.Text, nullable=False, server_default="free"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("tier IN ('free', 'pro', 'enterprise')", name="ck_holders_tier"),
        sa.PrimaryKeyConstraint("owner_id", name="pk_holders"),
        schema=S,
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("owner_id", UUID(as_uuid=True), nullable=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("asset", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("balance", sa.BigInteger, nullable=True),
        sa.Column("audit_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("audit_head", BYTEA, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.ForeignKeyConstraint(
            ["owner_id"], [f"{S}.holders.owner_id"], name="fk_accounts_owner_id_holders"
        ),
        sa.CheckConstraint("kind IN ('agent', 'platform')", name="ck_accounts_kind"),
        sa.CheckConstraint(
            "(kind = 'agent') = (owner_id IS NOT NULL)", name="ck_accounts_owner_matches_kind"
        ),
        sa.CheckConstraint(
            "kind <> 'agent' OR (balance IS NOT NULL AND balance >= 0)",
            name="ck_accounts_agent_balance",
        ),
        sa.CheckConstraint(
            "kind <> 'platform' OR balance IS NULL", name="ck_accounts_platform_balance_derived"
        ),
        schema=S,
        # Room in every page so balance updates stay HOT (no index writes).
        postgresql_with={"fillfactor": 70},
    )
    op.create_index(
        "uq_accounts_owner_id_asset_name",
        "accounts",
        ["owner_id", "asset", "name"],
        unique=True,
        schema=S,
    )
    op.create_index(
        "uq_accounts_platform_asset_name",
        "accounts",
        ["asset", "name"],
        unique=True,
        postgresql_where=sa.text("owner_id IS NULL"),
        schema=S,
    )
    op.create_table(
        "entries",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("idempotency_scope", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("request_hash", BYTEA, nullable=False),
        sa.Column("asset", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("fee", sa.BigInteger, nullable=False),
        sa.Column("fee_bps", sa.Integer, nullable=False),
        sa.Column("debit_account_id", sa.BigInteger, nullable=False),
        sa.Column("credit_account_id", sa.BigInteger, nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_entries"),
        sa.ForeignKeyConstraint(
            ["debit_account_id"], [f"{S}.accounts.id"], name="fk_entries_debit_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["credit_account_id"],
            [f"{S}.accounts.id"],
            name="fk_entries_credit_account_id_accounts",
        ),
        sa.CheckConstraint("amount > 0", name="ck_entries_amount_positive"),
        sa.CheckConstraint("fee >= 0 AND fee < amount", name="ck_entries_fee_range"),
        sa.UniqueConstraint(
            "idempotency_scope",
            "idempotency_key",
            name="uq_entries_idempotency_scope_idempotency_key",
        ),
        schema=S,
    )
    # Partial indexes: entries without a payer (credits), without a payee
    # (charges) or without a related entry (all but refunds) add no index entry.
    op.create_index(
        "ix_entries_payer_history",
        "entries",
        ["payer_owner_id", sa.text("created_at DESC"), sa.text("id DESC")],
        schema=S,
        postgresql_where=sa.text("payer_owner_id IS NOT NULL"),
    )
    op.create_index(
        "ix_entries_payee_history",
        "entries",
        ["payee_owner_id", sa.text("created_at DESC"), sa.text("id DESC")],
        schema=S,
        postgresql_where=sa.text("payee_owner_id IS NOT NULL"),
    )
    op.create_index(
        "ix_entries_related_entry_id",
        "entries",
        ["related_entry_id"],
        schema=S,
        postgresql_where=sa.text("related_entry_id IS NOT NULL"),
    )
    op.create_table(
        "lines",
        sa.Column("entry_id", UUID(as_uuid=True), nullable=False),
        sa.Column("line_no", sa.SmallInteger, nullable=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("entry_id", "line_no", name="pk_lines"),
        sa.ForeignKeyConstraint(
            ["entry_id"], [f"{S}.entries.id"], name="fk_lines_entry_id_entries"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], [f"{S}.accounts.id"], name="fk_lines_account_id_accounts"
        ),
        sa.CheckConstraint("amount <> 0", name="ck_lines_amount_nonzero"),
        schema=S,
    )
    op.create_index("ix_lines_account_id", "lines", ["account_id"], schema=S)
    op.create_table(
        "monthly_counters",
        sa.Column("owner_id", UUID(as_uuid=True), nullable=False),
        sa.Column("month", sa.Date, nullable=False),
        sa.Column("transfers", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("owner_id", "month", name="pk_monthly_counters"),
        sa.ForeignKeyConstraint(
            ["owner_id"], [f"{S}.holders.owner_id"], name="fk_monthly_counters_owner_id_holders"
        ),
        schema=S,
        postgresql_with={"fillfactor": 70},
    )
    op.create_table(
        "audit_log",
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("entry_id", UUID(as_uuid=True), nullable=True),
        sa.Column("details", JSONB, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hmac", BYTEA, nullable=True),
        sa.Column("hmac", BYTEA, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "seq", name="pk_audit_log"),
        sa.ForeignKeyConstraint(
            ["account_id"], [f"{S}.accounts.id"], name="fk_audit_log_account_id_accounts"
        ),
        schema=S,
    )
    # Every posting balances: lines inserted by one statement must sum to zero
    # per entry. Postings insert all their lines in one statement, so this is
    # the database's own guard behind the core's arithmetic.
    op.execute(
        f"""
        CREATE FUNCTION {S}.check_lines_balance() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE bad uuid;
        BEGIN
            SELECT entry_id INTO bad FROM new_lines
            GROUP BY entry_id HAVING sum(amount) <> 0 LIMIT 1;
            IF bad IS NOT NULL THEN
                RAISE EXCEPTION 'journal entry % does not balance', bad
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER lines_balance AFTER INSERT ON {S}.lines
            REFERENCING NEW TABLE AS new_lines
            FOR EACH STATEMENT EXECUTE FUNCTION {S}.check_lines_balance();
        """
    )
    # The journal and the audit log are append-only.
    op.execute(
        f"""
        CREATE FUNCTION {S}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON {S}.entries
            FOR EACH ROW EXECUTE FUNCTION {S}.refuse_change();
        CREATE TRIGGER lines_append_only BEFORE UPDATE OR DELETE ON {S}.lines
            FOR EACH ROW EXECUTE FUNCTION {S}.refuse_change();
        CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON {S}.audit_log
            FOR EACH ROW EXECUTE FUNCTION {S}.refuse_change();
        """
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    for table in ("audit_log", "monthly_counters", "lines", "entries", "accounts", "holders"):
        op.drop_table(table, schema=S)
    op.execute(f"DROP FUNCTION IF EXISTS {S}.check_lines_balance()")
    op.execute(f"DROP FUNCTION IF EXISTS {S}.refuse_change()")
