"""Key server: chains, addresses, charges, chain outputs, credit and callback
outboxes, watchers, the vault; and procrastinate's job tables in this schema.

Revision ID: 3b8f2d6e9a41
Revises:
Create Date: 2026-11-23 15:00:00
"""

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager
from sqlalchemy.dialects.postgresql import BYTEA, UUID

revision = "3b8f2d6e9a41"
down_revision = None
branch_labels = None
depends_on = None

S = "key_server"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    _create_tables()
    _create_procrastinate_schema()


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    _drop_procrastinate_schema()
    for table in (
        "vault_secrets",
        "watchers",
        "charge_callbacks",
        "deposit_credits",
        "chain_outputs",
        "charges",
        "addresses",
        "chains",
    ):
        op.drop_table(table, schema=S)


def _create_procrastinate_schema() -> None:
    """procrastinate's own schema file, applied with search_path = key_server.

    Its functions and triggers name their tables unqualified. The worker's
    connections run with search_path = key_server; every other session (ours,
    deferring a job in the same transaction as a state change, or an operator
    in psql) would not find the tables, so each function is pinned to this
    schema's search path.
    """
    op.execute(f"SET LOCAL search_path TO {S}")
    # Straight to the driver: with no parameters psycopg sends the script as it
    # is (it holds plpgsql `%` placeholders that SQLAlchemy would try to bind).
    dbapi = op.get_bind().connection.dbapi_connection
    assert dbapi is not None
    with dbapi.cursor() as cursor:
        cursor.execute(SchemaManager.get_schema())
    op.execute("SET LOCAL search_path TO DEFAULT")
    op.execute(
        f"""
        DO $$
        DECLARE
            item record;
        BEGIN
            FOR item IN
                SELECT p.oid::regprocedure AS signature FROM pg_proc p
                WHERE p.pronamespace = '{S}'::regnamespace AND p.proname LIKE 'procrastinate%'
            LOOP
                EXECUTE format('ALTER FUNCTION %s SET search_path = {S}, pg_catalog',
                               item.signature);
            END LOOP;
        END $$;
        """
    )


def _drop_procrastinate_schema() -> None:
    op.execute(
        f"""
        DO $$
        DECLARE
            item record;
        BEGIN
            FOR item IN
                SELECT tablename FROM pg_tables
                WHERE schemaname = '{S}' AND tablename LIKE 'procrastinate%'
            LOOP
                EXECUTE format('DROP TABLE IF EXISTS {S}.%I CASCADE', item.tablename);
            END LOOP;
            FOR item IN
                SELECT p.oid::regprocedure AS signature FROM pg_proc p
                WHERE p.pronamespace = '{S}'::regnamespace AND p.proname LIKE 'procrastinate%'
            LOOP
                EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.signature);
            END LOOP;
            FOR item IN
                SELECT t.typname FROM pg_type t
                WHERE t.typnamespace = '{S}'::regnamespace AND t.typname LIKE 'procrastinate%'
                AND t.typtype IN ('e', 'c')
            LOOP
                EXECUTE format('DROP TYPE IF EXISTS {S}.%I CASCADE', item.typname);
            END LOOP;
        END $$;
        """
    )


def _create_tables() -> None:
    op.create_table(
        "chains",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("network", sa.Text, nullable=False),
        sa.Column("asset", sa.Text, nullable=False),
        sa.Column("confirmations", sa.Integer, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("address_type", sa.Text, nullable=False),
        sa.Column("extended_key", sa.Text, nullable=True),
        sa.Column("public_spend_key", sa.Text, nullable=True),
        sa.Column("key_fingerprint", sa.Text, nullable=False),
        sa.Column("key_prefix", sa.Text, nullable=True),
        sa.Column("bip32_fingerprint", sa.Text, nullable=True),
        sa.Column("key_depth", sa.Integer, nullable=True),
        sa.Column("first_index", sa.BigInteger, nullable=False),
        sa.Column("next_index", sa.BigInteger, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("deleted_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_chains"),
        sa.CheckConstraint("id ~ '^[a-z0-9][a-z0-9_-]{0,31}$'", name="ck_chains_id_format"),
        sa.CheckConstraint(
            "kind IN ('bitcoin', 'litecoin', 'dogecoin', 'evm', 'monero')", name="ck_chains_kind"
        ),
        sa.CheckConstraint("asset ~ '^[A-Z][A-Z0-9]{1,9}$'", name="ck_chains_asset_format"),
        sa.CheckConstraint(
            "confirmations BETWEEN 1 AND 10000", name="ck_chains_confirmations_range"
        ),
        sa.CheckConstraint(
            "(kind = 'monero') = (public_spend_key IS NOT NULL AND extended_key IS NULL)",
            name="ck_chains_key_matches_kind",
        ),
        sa.CheckConstraint(
            "first_index >= 0 AND next_index >= first_index AND next_index <= 2147483648",
            name="ck_chains_index_range",
        ),
        sa.UniqueConstraint("key_fingerprint", name="uq_chains_key_fingerprint"),
        schema=S,
    )
    op.create_table(
        "addresses",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("chain_id", sa.Text, nullable=False),
        sa.Column("derivation_index", sa.BigInteger, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("agent_id", UUID(as_uuid=True), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_addresses"),
        sa.ForeignKeyConstraint(
            ["chain_id"], [f"{S}.chains.id"], name="fk_addresses_chain_id_chains"
        ),
        sa.CheckConstraint("purpose IN ('deposit', 'charge')", name="ck_addresses_purpose"),
        sa.CheckConstraint(
            "(purpose = 'deposit') = (agent_id IS NOT NULL)",
            name="ck_addresses_agent_for_deposit",
        ),
        sa.UniqueConstraint(
            "chain_id", "derivation_index", name="uq_addresses_chain_id_derivation_index"
        ),
        sa.UniqueConstraint("chain_id", "address", name="uq_addresses_chain_id_address"),
        schema=S,
    )
    op.create_index(
        "ix_addresses_agent_id_chain_id_derivation_index",
        "addresses",
        ["agent_id", "chain_id", "derivation_index"],
        schema=S,
        postgresql_where=sa.text("agent_id IS NOT NULL"),
    )
    op.create_table(
        "charges",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("chain_id", sa.Text, nullable=False),
        sa.Column("address_id", UUID(as_uuid=True), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("callback_url", sa.Text, nullable=True),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=True),
        sa.Column("request_hash", BYTEA, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_charges"),
        sa.ForeignKeyConstraint(
            ["chain_id"], [f"{S}.chains.id"], name="fk_charges_chain_id_chains"
        ),
        sa.ForeignKeyConstraint(
            ["address_id"], [f"{S}.addresses.id"], name="fk_charges_address_id_addresses"
        ),
        sa.CheckConstraint("amount > 0", name="ck_charges_amount_positive"),
        sa.CheckConstraint(
            "status IN ('pending', 'seen', 'confirmed', 'expired', 'overpaid', 'underpaid')",
            name="ck_charges_status",
        ),
        sa.UniqueConstraint("address_id", name="uq_charges_address_id"),
        sa.UniqueConstraint("idempotency_key", name="uq_charges_idempotency_key"),
        schema=S,
    )
    op.create_index(
        "ix_charges_expires_at",
        "charges",
        ["expires_at"],
        schema=S,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "chain_outputs",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("chain_id", sa.Text, nullable=False),
        sa.Column("txid", sa.Text, nullable=False),
        sa.Column("output_index", sa.BigInteger, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("address_id", UUID(as_uuid=True), nullable=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("confirmations", sa.BigInteger, nullable=False),
        sa.Column("watcher_id", sa.Text, nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("confirmed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_chain_outputs"),
        sa.ForeignKeyConstraint(
            ["chain_id"], [f"{S}.chains.id"], name="fk_chain_outputs_chain_id_chains"
        ),
        sa.ForeignKeyConstraint(
            ["address_id"], [f"{S}.addresses.id"], name="fk_chain_outputs_address_id_addresses"
        ),
        sa.CheckConstraint("amount > 0", name="ck_chain_outputs_amount_positive"),
        sa.CheckConstraint(
            "confirmations >= 0", name="ck_chain_outputs_confirmations_non_negative"
        ),
        sa.CheckConstraint("output_index >= 0", name="ck_chain_outputs_output_index_non_negative"),
        sa.UniqueConstraint(
            "chain_id", "txid", "output_index", name="uq_chain_outputs_chain_id_txid_output_index"
        ),
        schema=S,
    )
    op.create_index("ix_chain_outputs_address_id", "chain_outputs", ["address_id"], schema=S)
    op.create_table(
        "deposit_credits",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("output_id", UUID(as_uuid=True), nullable=False),
        sa.Column("chain_id", sa.Text, nullable=False),
        sa.Column("agent_id", UUID(as_uuid=True), nullable=False),
        sa.Column("asset", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("payment_id", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("credited_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deposit_credits"),
        sa.ForeignKeyConstraint(
            ["output_id"],
            [f"{S}.chain_outputs.id"],
            name="fk_deposit_credits_output_id_chain_outputs",
        ),
        sa.ForeignKeyConstraint(
            ["chain_id"], [f"{S}.chains.id"], name="fk_deposit_credits_chain_id_chains"
        ),
        sa.CheckConstraint("status IN ('owed', 'credited')", name="ck_deposit_credits_status"),
        sa.CheckConstraint("amount > 0", name="ck_deposit_credits_amount_positive"),
        sa.CheckConstraint(
            "(status = 'credited') = (credited_at IS NOT NULL AND payment_id IS NOT NULL)",
            name="ck_deposit_credits_credited_has_receipt",
        ),
        sa.UniqueConstraint("output_id", name="uq_deposit_credits_output_id"),
        sa.UniqueConstraint("idempotency_key", name="uq_deposit_credits_idempotency_key"),
        schema=S,
    )
    op.create_index(
        "ix_deposit_credits_created_at",
        "deposit_credits",
        ["created_at"],
        schema=S,
        postgresql_where=sa.text("status = 'owed'"),
    )
    op.create_table(
        "charge_callbacks",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("charge_id", UUID(as_uuid=True), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_status_code", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_charge_callbacks"),
        sa.ForeignKeyConstraint(
            ["charge_id"], [f"{S}.charges.id"], name="fk_charge_callbacks_charge_id_charges"
        ),
        sa.CheckConstraint("status IN ('pending', 'delivered')", name="ck_charge_callbacks_status"),
        schema=S,
    )
    op.create_index("ix_charge_callbacks_charge_id", "charge_callbacks", ["charge_id"], schema=S)
    op.create_index(
        "ix_charge_callbacks_created_at",
        "charge_callbacks",
        ["created_at"],
        schema=S,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "watchers",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_watchers"),
        sa.CheckConstraint(
            "name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'", name="ck_watchers_name_format"
        ),
        schema=S,
    )
    op.create_table(
        "vault_secrets",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("owner_kind", sa.Text, nullable=False),
        sa.Column("owner_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("ciphertext", sa.Text, nullable=False),
        sa.Column("key_id", sa.Text, nullable=False),
        sa.Column("hint", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_vault_secrets"),
        sa.CheckConstraint(
            "owner_kind IN ('agent', 'watcher', 'chain')", name="ck_vault_secrets_owner_kind"
        ),
        sa.UniqueConstraint(
            "owner_kind", "owner_id", "name", name="uq_vault_secrets_owner_kind_owner_id_name"
        ),
        schema=S,
    )
    op.create_index("ix_vault_secrets_key_id", "vault_secrets", ["key_id"], schema=S)
