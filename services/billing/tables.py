"""The billing schema: plans, customers, subscriptions, invoices, quotes, refunds,
exchange rates, outgoing webhooks and the audit trail.

Balances and the tier the payment core enforces are not here: billing reads
and changes them through the payment dispatcher (DESIGN.md rule 4).
Procrastinate's job tables live in this schema too (created by the initial
migration from procrastinate's own schema SQL); they are not described here.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA, JSONB, UUID

from services.common.schema import service_metadata

SCHEMA = "billing"

metadata = service_metadata(SCHEMA)

TS = sa.DateTime(timezone=True)

plans = sa.Table(
    "plans",
    metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("rank", sa.Integer, nullable=False, unique=True),
    sa.Column("price_usd_cents", sa.BigInteger, nullable=False),
    sa.Column("monthly_transfer_limit", sa.Integer, nullable=True),
    sa.Column("fee_bps", sa.Integer, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    # The payment core knows exactly these tiers; a plan is billing's price for one.
    sa.CheckConstraint("code IN ('free', 'pro', 'enterprise')", name="known_tier"),
    sa.CheckConstraint("price_usd_cents >= 0", name="price_not_negative"),
    sa.CheckConstraint("code <> 'free' OR price_usd_cents = 0", name="free_is_free"),
    sa.CheckConstraint("fee_bps BETWEEN 0 AND 10000", name="fee_bps_range"),
    sa.CheckConstraint(
        "monthly_transfer_limit IS NULL OR monthly_transfer_limit >= 0", name="limit_range"
    ),
)

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("agent_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("tier", sa.Text, sa.ForeignKey(plans.c.code), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

SUBSCRIPTION_STATUSES = "('active', 'past_due', 'lapsed', 'cancelled')"

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("agent_id", UUID(as_uuid=True), nullable=False),
    sa.Column("plan_code", sa.Text, sa.ForeignKey(plans.c.code), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("anchor_at", TS, nullable=False),
    sa.Column("cycle", sa.Integer, nullable=False),
    sa.Column("current_period_start", TS, nullable=False),
    sa.Column("current_period_end", TS, nullable=False),
    sa.Column("period_price_usd_cents", sa.BigInteger, nullable=False),
    sa.Column("scheduled_plan_code", sa.Text, sa.ForeignKey(plans.c.code), nullable=True),
    sa.Column("consecutive_failures", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", TS, nullable=True),
    sa.Column("grace_until", TS, nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("ended_at", TS, nullable=True),
    sa.CheckConstraint(f"status IN {SUBSCRIPTION_STATUSES}", name="status"),
    sa.CheckConstraint("cycle >= 1", name="cycle_positive"),
    sa.CheckConstraint("current_period_end > current_period_start", name="period_order"),
    sa.CheckConstraint("consecutive_failures >= 0", name="failures_not_negative"),
    # At most one live subscription per agent.
    sa.Index(
        "uq_subscriptions_live_agent",
        "agent_id",
        unique=True,
        postgresql_where=sa.text("status IN ('active', 'past_due')"),
    ),
    sa.Index("ix_subscriptions_agent_id_created_at", "agent_id", "created_at"),
    sa.Index(
        "ix_subscriptions_renewal_due",
        "current_period_end",
        postgresql_where=sa.text("status = 'active'"),
    ),
    sa.Index(
        "ix_subscriptions_past_due",
        "next_attempt_at",
        postgresql_where=sa.text("status = 'past_due'"),
    ),
)

invoices = sa.Table(
    "invoices",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("agent_id", UUID(as_uuid=True), nullable=False),
    # Null only while an upgrade that starts a new subscription is not yet paid.
    sa.Column(
        "subscription_id", UUID(as_uuid=True), sa.ForeignKey(subscriptions.c.id), nullable=True
    ),
    sa.Column("cycle", sa.Integer, nullable=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("plan_code", sa.Text, sa.ForeignKey(plans.c.code), nullable=False),
    sa.Column("usd_cents", sa.BigInteger, nullable=False),
    sa.Column("asset", sa.Text, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    # The rate audit: which rate converted usd_cents into amount_minor.
    sa.Column("rate_value", sa.Numeric, nullable=False),
    sa.Column("rate_source", sa.Text, nullable=False),
    sa.Column("rate_fetched_at", TS, nullable=False),
    sa.Column("rate_stale", sa.Boolean, nullable=False),
    # What the invoice pays for: the price level from -> to over [period_start,
    # period_end), covered_seconds long; level_top drops as refunds give it back.
    sa.Column("period_start", TS, nullable=False),
    sa.Column("period_end", TS, nullable=False),
    sa.Column("covered_seconds", sa.BigInteger, nullable=False),
    sa.Column("level_from_usd_cents", sa.BigInteger, nullable=False),
    sa.Column("level_to_usd_cents", sa.BigInteger, nullable=False),
    sa.Column("level_top_usd_cents", sa.BigInteger, nullable=False),
    sa.Column("refunded_minor", sa.BigInteger, nullable=False),
    # The payment core charge: its idempotency key is derived, so a retry or a
    # second worker can never charge twice.
    sa.Column("charge_scope", sa.Text, nullable=False),
    sa.Column("charge_key", sa.Text, nullable=False),
    sa.Column("charge_id", UUID(as_uuid=True), nullable=True),
    sa.Column("receipt", JSONB, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_attempt_at", TS, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("paid_at", TS, nullable=True),
    sa.Column("voided_at", TS, nullable=True),
    # How it is paid: charged from the balance by the payment core, or on-chain
    # through a key-server charge (crypto_charges).
    sa.Column("rail", sa.Text, nullable=False, server_default="balance"),
    sa.CheckConstraint("kind IN ('cycle', 'proration')", name="kind"),
    sa.CheckConstraint("status IN ('open', 'paid', 'void')", name="status"),
    sa.CheckConstraint("rail IN ('balance', 'crypto')", name="rail"),
    sa.CheckConstraint("usd_cents >= 0 AND amount_minor >= 0", name="amounts_not_negative"),
    sa.CheckConstraint("refunded_minor BETWEEN 0 AND amount_minor", name="refunds_bounded"),
    sa.CheckConstraint(
        "level_from_usd_cents <= level_top_usd_cents AND level_top_usd_cents <= level_to_usd_cents",
        name="levels_ordered",
    ),
    sa.CheckConstraint("status <> 'paid' OR subscription_id IS NOT NULL", name="paid_has_sub"),
    sa.UniqueConstraint("charge_scope", "charge_key"),
    # One invoice per (subscription, cycle): a renewal can never be invoiced twice.
    sa.Index(
        "uq_invoices_subscription_cycle",
        "subscription_id",
        "cycle",
        unique=True,
        postgresql_where=sa.text("kind = 'cycle'"),
    ),
    sa.Index("ix_invoices_agent_id_created_at", "agent_id", "created_at"),
    # A subscription's invoices of every kind (its open ones, those paying a cycle):
    # the unique index above holds cycle invoices only.
    sa.Index("ix_invoices_subscription_id_cycle", "subscription_id", "cycle"),
    # Voids whose charge was found posted and still owes its refund (few, found each sweep).
    sa.Index(
        "ix_invoices_void_refund_due",
        "agent_id",
        postgresql_where=sa.text(
            "status = 'void' AND rail = 'balance' AND charge_id IS NOT NULL "
            "AND refunded_minor < amount_minor"
        ),
    ),
)

invoice_lines = sa.Table(
    "invoice_lines",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("invoice_id", UUID(as_uuid=True), sa.ForeignKey(invoices.c.id), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("plan_code", sa.Text, nullable=False),
    sa.Column("usd_cents", sa.BigInteger, nullable=False),
    sa.Column("period_start", TS, nullable=False),
    sa.Column("period_end", TS, nullable=False),
    sa.UniqueConstraint("invoice_id", "position"),
)

quotes = sa.Table(
    "quotes",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("agent_id", UUID(as_uuid=True), nullable=False),
    sa.Column("plan_code", sa.Text, sa.ForeignKey(plans.c.code), nullable=False),
    sa.Column("from_plan_code", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("subscription_id", UUID(as_uuid=True), nullable=True),
    sa.Column("cycle", sa.Integer, nullable=True),
    sa.Column("usd_cents", sa.BigInteger, nullable=False),
    sa.Column("asset", sa.Text, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("rate_value", sa.Numeric, nullable=False),
    sa.Column("rate_source", sa.Text, nullable=False),
    sa.Column("rate_fetched_at", TS, nullable=False),
    sa.Column("rate_stale", sa.Boolean, nullable=False),
    sa.Column("period_start", TS, nullable=False),
    sa.Column("period_end", TS, nullable=False),
    sa.Column("covered_seconds", sa.BigInteger, nullable=False),
    sa.Column("level_from_usd_cents", sa.BigInteger, nullable=False),
    sa.Column("level_to_usd_cents", sa.BigInteger, nullable=False),
    sa.Column("next_renewal_usd_cents", sa.BigInteger, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
    sa.Column("used_at", TS, nullable=True),
    sa.CheckConstraint("kind IN ('cycle', 'proration')", name="kind"),
    sa.Index("ix_quotes_agent_id_created_at", "agent_id", "created_at"),
)

upgrade_requests = sa.Table(
    "upgrade_requests",
    metadata,
    sa.Column("agent_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("idempotency_key", sa.Text, primary_key=True),
    sa.Column("request_hash", BYTEA, nullable=False),
    sa.Column("quote_id", UUID(as_uuid=True), sa.ForeignKey(quotes.c.id), nullable=False),
    sa.Column("invoice_id", UUID(as_uuid=True), sa.ForeignKey(invoices.c.id), nullable=False),
    sa.Column("response", JSONB, nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("completed_at", TS, nullable=True),
    sa.Column("pay_with", sa.Text, nullable=False, server_default="balance"),
    sa.CheckConstraint("pay_with IN ('balance', 'crypto')", name="pay_with"),
    sa.Index(
        "ix_upgrade_requests_pending",
        "created_at",
        postgresql_where=sa.text("completed_at IS NULL"),
    ),
)

downgrades = sa.Table(
    "downgrades",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("agent_id", UUID(as_uuid=True), nullable=False),
    sa.Column(
        "subscription_id", UUID(as_uuid=True), sa.ForeignKey(subscriptions.c.id), nullable=False
    ),
    sa.Column("from_plan_code", sa.Text, nullable=False),
    sa.Column("to_plan_code", sa.Text, sa.ForeignKey(plans.c.code), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("applied_at", TS, nullable=True),
    # Immediate downgrades move money: the client's Idempotency-Key (NULL for
    # downgrades made before keys were asked for), its request's fingerprint,
    # and the answer, kept for replays.
    sa.Column("idempotency_key", sa.Text, nullable=True),
    sa.Column("request_hash", BYTEA, nullable=True),
    sa.Column("response", JSONB, nullable=True),
    sa.CheckConstraint("status IN ('pending', 'applied')", name="status"),
    sa.UniqueConstraint("agent_id", "idempotency_key"),
    sa.Index("ix_downgrades_pending", "created_at", postgresql_where=sa.text("status = 'pending'")),
)

refunds = sa.Table(
    "refunds",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("downgrade_id", UUID(as_uuid=True), sa.ForeignKey(downgrades.c.id), nullable=False),
    sa.Column("invoice_id", UUID(as_uuid=True), sa.ForeignKey(invoices.c.id), nullable=False),
    sa.Column("agent_id", UUID(as_uuid=True), nullable=False),
    sa.Column("usd_cents", sa.BigInteger, nullable=False),
    sa.Column("asset", sa.Text, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("level_top_before", sa.BigInteger, nullable=False),
    sa.Column("level_top_after", sa.BigInteger, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("receipt", JSONB, nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("posted_at", TS, nullable=True),
    sa.CheckConstraint("status IN ('pending', 'posted')", name="status"),
    sa.CheckConstraint("amount_minor >= 0 AND usd_cents >= 0", name="amounts_not_negative"),
    sa.Index("ix_refunds_downgrade_id", "downgrade_id"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("agent_id", UUID(as_uuid=True), nullable=True),
    sa.Column("subscription_id", UUID(as_uuid=True), nullable=True),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("details", JSONB, nullable=False),
    sa.Column("at", TS, nullable=False),
    sa.Index("ix_audit_events_agent_id_id", "agent_id", "id"),
)

exchange_rates = sa.Table(
    "exchange_rates",
    metadata,
    sa.Column("asset", sa.Text, primary_key=True),
    sa.Column("usd_per_unit", sa.Numeric, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("fetched_at", TS, nullable=False),
    sa.CheckConstraint("usd_per_unit > 0", name="positive"),
)

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    # Sealed with BILLING_SECRET_KEYS (secret_key_id names the key); NULL key id:
    # plaintext from before sealing, until `python -m services.billing rotate-secrets`.
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("secret_key_id", sa.Text, nullable=True),
    sa.Column("events", ARRAY(sa.Text), nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("deleted_at", TS, nullable=True),
)

webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("agent_id", UUID(as_uuid=True), nullable=True),
    # The exact bytes that are signed and sent, identical on every attempt.
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("event_id", UUID(as_uuid=True), sa.ForeignKey(webhook_events.c.id), nullable=False),
    sa.Column(
        "endpoint_id", UUID(as_uuid=True), sa.ForeignKey(webhook_endpoints.c.id), nullable=False
    ),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("replay_of", UUID(as_uuid=True), nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("delivered_at", TS, nullable=True),
    sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
    sa.Index("ix_webhook_deliveries_endpoint_id_created_at", "endpoint_id", "created_at"),
    sa.Index("ix_webhook_deliveries_event_id", "event_id"),
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column(
        "delivery_id", UUID(as_uuid=True), sa.ForeignKey(webhook_deliveries.c.id), nullable=False
    ),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("at", TS, nullable=False),
    sa.UniqueConstraint("delivery_id", "attempt"),
)

# The crypto rail: an invoice paid on-chain through a key-server charge. The row
# is written with the invoice, before the key server is called (charge_id null
# until it answers); the charge's Idempotency-Key is the invoice's charge_key,
# and the parameters sent are stored, so every retry asks for the same charge.
crypto_charges = sa.Table(
    "crypto_charges",
    metadata,
    sa.Column("invoice_id", UUID(as_uuid=True), sa.ForeignKey(invoices.c.id), primary_key=True),
    sa.Column("agent_id", UUID(as_uuid=True), nullable=False),
    sa.Column("quote_id", UUID(as_uuid=True), sa.ForeignKey(quotes.c.id), nullable=False),
    sa.Column("chain", sa.Text, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("expires_in_seconds", sa.Integer, nullable=False),
    sa.Column("callback_url", sa.Text, nullable=False),
    sa.Column("charge_id", UUID(as_uuid=True), nullable=True, unique=True),
    sa.Column("address", sa.Text, nullable=True),
    sa.Column("expires_at", TS, nullable=True),
    # The key server's last reported status, what it received, and when.
    sa.Column("charge_status", sa.Text, nullable=True),
    sa.Column("amount_received", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("txids", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("paid_late", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
    sa.CheckConstraint("amount_received >= 0", name="received_not_negative"),
    # The charge id may come first (from a callback that overtook the answer to
    # POST /charges); the address and expiry always come together, from the answer.
    sa.CheckConstraint(
        "(address IS NULL) = (expires_at IS NULL) AND (address IS NULL OR charge_id IS NOT NULL)",
        name="address_with_expiry",
    ),
    sa.Index("ix_crypto_charges_agent_id_created_at", "agent_id", "created_at"),
)

# Every signed charge callback billing accepted, once per key-server event id:
# a redelivery finds its row and changes nothing.
charge_events = sa.Table(
    "charge_events",
    metadata,
    sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("charge_id", UUID(as_uuid=True), nullable=False),
    sa.Column("invoice_id", UUID(as_uuid=True), sa.ForeignKey(invoices.c.id), nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("body", JSONB, nullable=False),
    sa.Column("received_at", TS, nullable=False),
    sa.Index("ix_charge_events_charge_id", "charge_id"),
)
