"""The key_server schema: chains, addresses, charges, observed outputs, outboxes, vault.

Nothing here can spend. Chains hold account-level extended *public* keys (or,
for Monero, the public spend key; its view key lives encrypted in the vault).
The procrastinate job tables live in this schema too, created by the
migration from procrastinate's own schema file; they are not described here.

Invariants the constraints carry, so no bug above them can break them:

* an index is handed out once per chain (`uq_addresses_chain_id_derivation_index`)
  and an address once per chain (`uq_addresses_chain_id_address`);
* an on-chain output is recorded once (`uq_chain_outputs_chain_id_txid_output_index`)
  and owes at most one credit (`uq_deposit_credits_output_id`), under one
  ledger idempotency key (`uq_deposit_credits_idempotency_key`);
* a key (by fingerprint) belongs to one chain, deleted chains included: a
  re-registered key would hand out its old addresses again.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import BYTEA, UUID

from services.common.schema import service_metadata

SCHEMA = "key_server"

metadata = service_metadata(SCHEMA)

TS = sa.DateTime(timezone=True)

chains = sa.Table(
    "chains",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
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
    sa.CheckConstraint("id ~ '^[a-z0-9][a-z0-9_-]{0,31}$'", name="id_format"),
    sa.CheckConstraint("kind IN ('bitcoin', 'litecoin', 'dogecoin', 'evm', 'monero')", name="kind"),
    sa.CheckConstraint("asset ~ '^[A-Z][A-Z0-9]{1,9}$'", name="asset_format"),
    sa.CheckConstraint("confirmations BETWEEN 1 AND 10000", name="confirmations_range"),
    sa.CheckConstraint(
        "(kind = 'monero') = (public_spend_key IS NOT NULL AND extended_key IS NULL)",
        name="key_matches_kind",
    ),
    sa.CheckConstraint(
        "first_index >= 0 AND next_index >= first_index AND next_index <= 2147483648",
        name="index_range",
    ),
    sa.UniqueConstraint("key_fingerprint"),
)

addresses = sa.Table(
    "addresses",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("chain_id", sa.Text, sa.ForeignKey(chains.c.id), nullable=False),
    sa.Column("derivation_index", sa.BigInteger, nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("agent_id", UUID(as_uuid=True), nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.CheckConstraint("purpose IN ('deposit', 'charge')", name="purpose"),
    sa.CheckConstraint("(purpose = 'deposit') = (agent_id IS NOT NULL)", name="agent_for_deposit"),
    sa.UniqueConstraint("chain_id", "derivation_index"),
    sa.UniqueConstraint("chain_id", "address"),
    sa.Index(
        "ix_addresses_agent_id_chain_id_derivation_index",
        "agent_id",
        "chain_id",
        "derivation_index",
        postgresql_where=sa.text("agent_id IS NOT NULL"),
    ),
)

charges = sa.Table(
    "charges",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("chain_id", sa.Text, sa.ForeignKey(chains.c.id), nullable=False),
    sa.Column("address_id", UUID(as_uuid=True), sa.ForeignKey(addresses.c.id), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("reference", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("callback_url", sa.Text, nullable=True),
    sa.Column("expires_at", TS, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=True),
    sa.Column("request_hash", BYTEA, nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
    sa.CheckConstraint(
        "status IN ('pending', 'seen', 'confirmed', 'expired', 'overpaid', 'underpaid')",
        name="status",
    ),
    sa.UniqueConstraint("address_id"),
    sa.UniqueConstraint("idempotency_key"),
    # The expiry sweep's charges: pending ones, and seen ones (short payments are
    # judged at the expiry). Settled charges, nearly all of them, stay out.
    sa.Index(
        "ix_charges_expires_at",
        "expires_at",
        postgresql_where=sa.text("status IN ('pending', 'seen')"),
    ),
)

chain_outputs = sa.Table(
    "chain_outputs",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("chain_id", sa.Text, sa.ForeignKey(chains.c.id), nullable=False),
    sa.Column("txid", sa.Text, nullable=False),
    sa.Column("output_index", sa.BigInteger, nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("address_id", UUID(as_uuid=True), sa.ForeignKey(addresses.c.id), nullable=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("confirmations", sa.BigInteger, nullable=False),
    sa.Column("watcher_id", sa.Text, nullable=False),
    sa.Column("first_seen_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("confirmed_at", TS, nullable=True),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
    sa.CheckConstraint("confirmations >= 0", name="confirmations_non_negative"),
    sa.CheckConstraint("output_index >= 0", name="output_index_non_negative"),
    sa.UniqueConstraint("chain_id", "txid", "output_index"),
    sa.Index("ix_chain_outputs_address_id", "address_id"),
)

deposit_credits = sa.Table(
    "deposit_credits",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("output_id", UUID(as_uuid=True), sa.ForeignKey(chain_outputs.c.id), nullable=False),
    sa.Column("chain_id", sa.Text, sa.ForeignKey(chains.c.id), nullable=False),
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
    sa.CheckConstraint("status IN ('owed', 'credited')", name="status"),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
    sa.CheckConstraint(
        "(status = 'credited') = (credited_at IS NOT NULL AND payment_id IS NOT NULL)",
        name="credited_has_receipt",
    ),
    sa.UniqueConstraint("output_id"),
    sa.UniqueConstraint("idempotency_key"),
    sa.Index(
        "ix_deposit_credits_created_at", "created_at", postgresql_where=sa.text("status = 'owed'")
    ),
)

charge_callbacks = sa.Table(
    "charge_callbacks",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("charge_id", UUID(as_uuid=True), sa.ForeignKey(charges.c.id), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    # The exact bytes sent (and signed) on every attempt: a retry is the same event.
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("delivered_at", TS, nullable=True),
    sa.CheckConstraint("status IN ('pending', 'delivered')", name="status"),
    sa.Index("ix_charge_callbacks_charge_id", "charge_id"),
    sa.Index(
        "ix_charge_callbacks_created_at",
        "created_at",
        postgresql_where=sa.text("status = 'pending'"),
    ),
)

watchers = sa.Table(
    "watchers",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("revoked_at", TS, nullable=True),
    sa.CheckConstraint("name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'", name="name_format"),
)

vault_secrets = sa.Table(
    "vault_secrets",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("owner_kind", sa.Text, nullable=False),
    sa.Column("owner_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    # A Fernet token; the plaintext inside also names (owner_kind, owner_id, name),
    # so a token moved to another row by someone with write access will not decrypt.
    sa.Column("ciphertext", sa.Text, nullable=False),
    # Which vault key encrypted it (a hash of the key, never the key): lets the
    # rotation command and /readyz see what is left under older keys.
    sa.Column("key_id", sa.Text, nullable=False),
    sa.Column("hint", sa.Text, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.CheckConstraint("owner_kind IN ('agent', 'watcher', 'chain')", name="owner_kind"),
    sa.UniqueConstraint("owner_kind", "owner_id", "name"),
    sa.Index("ix_vault_secrets_key_id", "key_id"),
)
