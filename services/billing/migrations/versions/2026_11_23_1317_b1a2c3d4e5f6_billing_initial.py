"""Billing: plans (seeded), customers, subscriptions, invoices, quotes, refunds,
exchange rates, outgoing webhooks, audit; and procrastinate's job tables.

Revision ID: b1a2c3d4e5f6
Revises:
Create Date: 2026-11-23 13:17:00
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager
from sqlalchemy.dialects import postgresql

revision = "b1a2c3d4e5f6"
down_revision = None
branch_labels = None
depends_on = None

S = "billing"

# The seed plans (prices in USD cents). Operators edit them afterwards
# (PATCH /admin/plans/{code}); this list is frozen with the migration.
SEED_PLANS = [
    ("free", "Free", 0, 0, 100, 30),
    ("pro", "Pro", 10, 2_900, None, 10),
    ("enterprise", "Enterprise", 20, 99_900, None, 10),
]

# Drops every procrastinate table, function and type in the billing schema.
DROP_PROCRASTINATE = r"""
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT tablename FROM pg_tables
             WHERE schemaname = 'billing' AND tablename LIKE 'procrastinate\_%' LOOP
        EXECUTE format('DROP TABLE IF EXISTS billing.%I CASCADE', r.tablename);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'billing' AND p.proname LIKE 'procrastinate\_%' LOOP
        EXECUTE 'DROP FUNCTION IF EXISTS ' || r.signature::text || ' CASCADE';
    END LOOP;
    FOR r IN SELECT t.typname FROM pg_type t
             JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE n.nspname = 'billing' AND t.typname LIKE 'procrastinate\_%'
               AND t.typtype IN ('e', 'c') LOOP
        EXECUTE format('DROP TYPE IF EXISTS billing.%I CASCADE', r.typname);
    END LOOP;
END
$$;
"""


def _driver_execute(sql: str) -> None:
    """Run SQL as-is on the migration's own connection (same transaction): no bind
    parameter parsing, several statements allowed."""
    op.get_bind().connection.driver_connection.execute(sql)


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=True),
        sa.Column("subscription_id", sa.UUID(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        schema=S,
    )
    op.create_index(
        "ix_audit_events_agent_id_id", "audit_events", ["agent_id", "id"], unique=False, schema=S
    )
    op.create_table(
        "exchange_rates",
        sa.Column("asset", sa.Text(), nullable=False),
        sa.Column("usd_per_unit", sa.Numeric(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("usd_per_unit > 0", name=op.f("ck_exchange_rates_positive")),
        sa.PrimaryKeyConstraint("asset", name=op.f("pk_exchange_rates")),
        schema=S,
    )
    op.create_table(
        "plans",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("price_usd_cents", sa.BigInteger(), nullable=False),
        sa.Column("monthly_transfer_limit", sa.Integer(), nullable=True),
        sa.Column("fee_bps", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "code <> 'free' OR price_usd_cents = 0", name=op.f("ck_plans_free_is_free")
        ),
        sa.CheckConstraint(
            "code IN ('free', 'pro', 'enterprise')", name=op.f("ck_plans_known_tier")
        ),
        sa.CheckConstraint("fee_bps BETWEEN 0 AND 10000", name=op.f("ck_plans_fee_bps_range")),
        sa.CheckConstraint(
            "monthly_transfer_limit IS NULL OR monthly_transfer_limit >= 0",
            name=op.f("ck_plans_limit_range"),
        ),
        sa.CheckConstraint("price_usd_cents >= 0", name=op.f("ck_plans_price_not_negative")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_plans")),
        sa.UniqueConstraint("rank", name=op.f("uq_plans_rank")),
        schema=S,
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("events", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
        schema=S,
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        schema=S,
    )
    op.create_table(
        "customers",
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("tier", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tier"], [f"{S}.plans.code"], name=op.f("fk_customers_tier_plans")
        ),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_customers")),
        schema=S,
    )
    op.create_table(
        "quotes",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("plan_code", sa.Text(), nullable=False),
        sa.Column("from_plan_code", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("subscription_id", sa.UUID(), nullable=True),
        sa.Column("cycle", sa.Integer(), nullable=True),
        sa.Column("usd_cents", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.Text(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("rate_value", sa.Numeric(), nullable=False),
        sa.Column("rate_source", sa.Text(), nullable=False),
        sa.Column("rate_fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rate_stale", sa.Boolean(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("covered_seconds", sa.BigInteger(), nullable=False),
        sa.Column("level_from_usd_cents", sa.BigInteger(), nullable=False),
        sa.Column("level_to_usd_cents", sa.BigInteger(), nullable=False),
        sa.Column("next_renewal_usd_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('cycle', 'proration')", name=op.f("ck_quotes_kind")),
        sa.ForeignKeyConstraint(
            ["plan_code"], [f"{S}.plans.code"], name=op.f("fk_quotes_plan_code_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quotes")),
        schema=S,
    )
    op.create_index(
        "ix_quotes_agent_id_created_at",
        "quotes",
        ["agent_id", "created_at"],
        unique=False,
        schema=S,
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("plan_code", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("anchor_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("current_period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_price_usd_cents", sa.BigInteger(), nullable=False),
        sa.Column("scheduled_plan_code", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("grace_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'past_due', 'lapsed', 'cancelled')",
            name=op.f("ck_subscriptions_status"),
        ),
        sa.CheckConstraint(
            "consecutive_failures >= 0", name=op.f("ck_subscriptions_failures_not_negative")
        ),
        sa.CheckConstraint(
            "current_period_end > current_period_start", name=op.f("ck_subscriptions_period_order")
        ),
        sa.CheckConstraint("cycle >= 1", name=op.f("ck_subscriptions_cycle_positive")),
        sa.ForeignKeyConstraint(
            ["plan_code"], [f"{S}.plans.code"], name=op.f("fk_subscriptions_plan_code_plans")
        ),
        sa.ForeignKeyConstraint(
            ["scheduled_plan_code"],
            [f"{S}.plans.code"],
            name=op.f("fk_subscriptions_scheduled_plan_code_plans"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        schema=S,
    )
    op.create_index(
        "ix_subscriptions_agent_id_created_at",
        "subscriptions",
        ["agent_id", "created_at"],
        unique=False,
        schema=S,
    )
    op.create_index(
        "ix_subscriptions_past_due",
        "subscriptions",
        ["next_attempt_at"],
        unique=False,
        schema=S,
        postgresql_where=sa.text("status = 'past_due'"),
    )
    op.create_index(
        "ix_subscriptions_renewal_due",
        "subscriptions",
        ["current_period_end"],
        unique=False,
        schema=S,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "uq_subscriptions_live_agent",
        "subscriptions",
        ["agent_id"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("status IN ('active', 'past_due')"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("endpoint_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("replay_of", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')",
            name=op.f("ck_webhook_deliveries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            [f"{S}.webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            [f"{S}.webhook_events.id"],
            name=op.f("fk_webhook_deliveries_event_id_webhook_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        schema=S,
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_id_created_at",
        "webhook_deliveries",
        ["endpoint_id", "created_at"],
        unique=False,
        schema=S,
    )
    op.create_index(
        "ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id"], unique=False, schema=S
    )
    op.create_table(
        "downgrades",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("subscription_id", sa.UUID(), nullable=False),
        sa.Column("from_plan_code", sa.Text(), nullable=False),
        sa.Column("to_plan_code", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'applied')", name=op.f("ck_downgrades_status")),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            [f"{S}.subscriptions.id"],
            name=op.f("fk_downgrades_subscription_id_subscriptions"),
        ),
        sa.ForeignKeyConstraint(
            ["to_plan_code"], [f"{S}.plans.code"], name=op.f("fk_downgrades_to_plan_code_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_downgrades")),
        schema=S,
    )
    op.create_index(
        "ix_downgrades_pending",
        "downgrades",
        ["created_at"],
        unique=False,
        schema=S,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("subscription_id", sa.UUID(), nullable=True),
        sa.Column("cycle", sa.Integer(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("plan_code", sa.Text(), nullable=False),
        sa.Column("usd_cents", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.Text(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("rate_value", sa.Numeric(), nullable=False),
        sa.Column("rate_source", sa.Text(), nullable=False),
        sa.Column("rate_fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rate_stale", sa.Boolean(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("covered_seconds", sa.BigInteger(), nullable=False),
        sa.Column("level_from_usd_cents", sa.BigInteger(), nullable=False),
        sa.Column("level_to_usd_cents", sa.BigInteger(), nullable=False),
        sa.Column("level_top_usd_cents", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("charge_scope", sa.Text(), nullable=False),
        sa.Column("charge_key", sa.Text(), nullable=False),
        sa.Column("charge_id", sa.UUID(), nullable=True),
        sa.Column("receipt", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('cycle', 'proration')", name=op.f("ck_invoices_kind")),
        sa.CheckConstraint(
            "status <> 'paid' OR subscription_id IS NOT NULL", name=op.f("ck_invoices_paid_has_sub")
        ),
        sa.CheckConstraint("status IN ('open', 'paid', 'void')", name=op.f("ck_invoices_status")),
        sa.CheckConstraint(
            "level_from_usd_cents <= level_top_usd_cents "
            "AND level_top_usd_cents <= level_to_usd_cents",
            name=op.f("ck_invoices_levels_ordered"),
        ),
        sa.CheckConstraint(
            "refunded_minor BETWEEN 0 AND amount_minor", name=op.f("ck_invoices_refunds_bounded")
        ),
        sa.CheckConstraint(
            "usd_cents >= 0 AND amount_minor >= 0", name=op.f("ck_invoices_amounts_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["plan_code"], [f"{S}.plans.code"], name=op.f("fk_invoices_plan_code_plans")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            [f"{S}.subscriptions.id"],
            name=op.f("fk_invoices_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint(
            "charge_scope", "charge_key", name=op.f("uq_invoices_charge_scope_charge_key")
        ),
        schema=S,
    )
    op.create_index(
        "ix_invoices_agent_id_created_at",
        "invoices",
        ["agent_id", "created_at"],
        unique=False,
        schema=S,
    )
    op.create_index(
        "uq_invoices_subscription_cycle",
        "invoices",
        ["subscription_id", "cycle"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("kind = 'cycle'"),
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("delivery_id", sa.UUID(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            [f"{S}.webhook_deliveries.id"],
            name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
        sa.UniqueConstraint(
            "delivery_id", "attempt", name=op.f("uq_webhook_attempts_delivery_id_attempt")
        ),
        schema=S,
    )
    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("invoice_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("plan_code", sa.Text(), nullable=False),
        sa.Column("usd_cents", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], [f"{S}.invoices.id"], name=op.f("fk_invoice_lines_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
        sa.UniqueConstraint(
            "invoice_id", "position", name=op.f("uq_invoice_lines_invoice_id_position")
        ),
        schema=S,
    )
    op.create_table(
        "refunds",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("downgrade_id", sa.UUID(), nullable=False),
        sa.Column("invoice_id", sa.UUID(), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("usd_cents", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.Text(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("level_top_before", sa.BigInteger(), nullable=False),
        sa.Column("level_top_after", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("receipt", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'posted')", name=op.f("ck_refunds_status")),
        sa.CheckConstraint(
            "amount_minor >= 0 AND usd_cents >= 0", name=op.f("ck_refunds_amounts_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["downgrade_id"],
            [f"{S}.downgrades.id"],
            name=op.f("fk_refunds_downgrade_id_downgrades"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], [f"{S}.invoices.id"], name=op.f("fk_refunds_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        schema=S,
    )
    op.create_index("ix_refunds_downgrade_id", "refunds", ["downgrade_id"], unique=False, schema=S)
    op.create_table(
        "upgrade_requests",
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("request_hash", postgresql.BYTEA(), nullable=False),
        sa.Column("quote_id", sa.UUID(), nullable=False),
        sa.Column("invoice_id", sa.UUID(), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            [f"{S}.invoices.id"],
            name=op.f("fk_upgrade_requests_invoice_id_invoices"),
        ),
        sa.ForeignKeyConstraint(
            ["quote_id"], [f"{S}.quotes.id"], name=op.f("fk_upgrade_requests_quote_id_quotes")
        ),
        sa.PrimaryKeyConstraint("agent_id", "idempotency_key", name=op.f("pk_upgrade_requests")),
        schema=S,
    )
    op.create_index(
        "ix_upgrade_requests_pending",
        "upgrade_requests",
        ["created_at"],
        unique=False,
        schema=S,
        postgresql_where=sa.text("completed_at IS NULL"),
    )
    plans = sa.table(
        "plans",
        sa.column("code", sa.Text),
        sa.column("label", sa.Text),
        sa.column("rank", sa.Integer),
        sa.column("price_usd_cents", sa.BigInteger),
        sa.column("monthly_transfer_limit", sa.Integer),
        sa.column("fee_bps", sa.Integer),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        schema=S,
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        plans,
        [
            {
                "code": code,
                "label": label,
                "rank": rank,
                "price_usd_cents": price,
                "monthly_transfer_limit": limit,
                "fee_bps": bps,
                "updated_at": now,
            }
            for code, label, rank, price, limit, bps in SEED_PLANS
        ],
    )
    # Procrastinate's own schema SQL, unqualified names, created in `billing`.
    _driver_execute(f"SET LOCAL search_path TO {S}")
    _driver_execute(SchemaManager.get_schema())
    _driver_execute("SET LOCAL search_path TO DEFAULT")


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    _driver_execute(DROP_PROCRASTINATE)
    op.drop_index(
        "ix_upgrade_requests_pending",
        table_name="upgrade_requests",
        schema=S,
        postgresql_where=sa.text("completed_at IS NULL"),
    )
    op.drop_table("upgrade_requests", schema=S)
    op.drop_index("ix_refunds_downgrade_id", table_name="refunds", schema=S)
    op.drop_table("refunds", schema=S)
    op.drop_table("invoice_lines", schema=S)
    op.drop_table("webhook_attempts", schema=S)
    op.drop_index(
        "uq_invoices_subscription_cycle",
        table_name="invoices",
        schema=S,
        postgresql_where=sa.text("kind = 'cycle'"),
    )
    op.drop_index("ix_invoices_agent_id_created_at", table_name="invoices", schema=S)
    op.drop_table("invoices", schema=S)
    op.drop_index(
        "ix_downgrades_pending",
        table_name="downgrades",
        schema=S,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_table("downgrades", schema=S)
    op.drop_index("ix_webhook_deliveries_event_id", table_name="webhook_deliveries", schema=S)
    op.drop_index(
        "ix_webhook_deliveries_endpoint_id_created_at", table_name="webhook_deliveries", schema=S
    )
    op.drop_table("webhook_deliveries", schema=S)
    op.drop_index(
        "uq_subscriptions_live_agent",
        table_name="subscriptions",
        schema=S,
        postgresql_where=sa.text("status IN ('active', 'past_due')"),
    )
    op.drop_index(
        "ix_subscriptions_renewal_due",
        table_name="subscriptions",
        schema=S,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.drop_index(
        "ix_subscriptions_past_due",
        table_name="subscriptions",
        schema=S,
        postgresql_where=sa.text("status = 'past_due'"),
    )
    op.drop_index("ix_subscriptions_agent_id_created_at", table_name="subscriptions", schema=S)
    op.drop_table("subscriptions", schema=S)
    op.drop_index("ix_quotes_agent_id_created_at", table_name="quotes", schema=S)
    op.drop_table("quotes", schema=S)
    op.drop_table("customers", schema=S)
    op.drop_table("webhook_events", schema=S)
    op.drop_table("webhook_endpoints", schema=S)
    op.drop_table("plans", schema=S)
    op.drop_table("exchange_rates", schema=S)
    op.drop_index("ix_audit_events_agent_id_id", table_name="audit_events", schema=S)
    op.drop_table("audit_events", schema=S)
