"""The billing schema's migration builds exactly tables.py, plus procrastinate's own
tables and functions in the same schema, and goes down and up again."""

import uuid

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import make_url

from services.billing.tables import metadata
from services.common.migrations import ALL_SCHEMAS, BILLING, alembic_config, upgrade


def test_billing_is_migrated_with_the_other_schemas():
    assert BILLING in ALL_SCHEMAS and BILLING.schema == "billing"


def test_the_migration_matches_the_table_definitions(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "include_name": lambda name, type_, _parent: (
                    name == "billing"
                    if type_ == "schema"
                    else name != "alembic_version" and not str(name).startswith("procrastinate_")
                ),
                "compare_type": True,
            },
        )
        assert compare_metadata(ctx, metadata) == []


def test_procrastinate_lives_in_the_billing_schema(engine):
    with engine.connect() as conn:
        tables = set(
            conn.execute(
                sa.text(
                    "SELECT tablename FROM pg_tables "
                    "WHERE schemaname = 'billing' AND tablename LIKE 'procrastinate%'"
                )
            ).scalars()
        )
        schemas = set(
            conn.execute(
                sa.text(
                    "SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                    "WHERE p.proname = 'procrastinate_defer_jobs_v1'"
                )
            ).scalars()
        )
    assert {"procrastinate_jobs", "procrastinate_periodic_defers", "procrastinate_events"} <= tables
    assert "billing" in schemas  # (other services may keep their own queue in their schema)


def test_the_seed_plans_and_a_down_and_up_cycle(database_url):
    name = f"sealpay_billing_mig_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(BILLING, url)
        scratch = sa.create_engine(url)
        with scratch.connect() as conn:
            plans = conn.execute(
                sa.text(
                    "SELECT code, price_usd_cents, monthly_transfer_limit, fee_bps, rank "
                    "FROM billing.plans ORDER BY rank"
                )
            ).all()
            assert [tuple(p) for p in plans] == [
                ("free", 0, 100, 30, 0),
                ("pro", 2_900, None, 10, 10),
                ("enterprise", 99_900, None, 10, 20),
            ]
            cfg = alembic_config(BILLING, url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
            conn.commit()
            left = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'billing' "
                    "AND c.relkind = 'r' AND c.relname <> 'alembic_version'"
                )
            ).scalar_one()
            functions = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                    "WHERE n.nspname = 'billing'"
                )
            ).scalar_one()
            assert (left, functions) == (0, 0)
        scratch.dispose()
        upgrade(BILLING, url)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
