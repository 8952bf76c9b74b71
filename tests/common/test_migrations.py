"""Every schema's migrations build exactly what its table definitions describe,
and go down and up again cleanly."""

import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import make_url

from services.billing.tables import metadata as billing_metadata
from services.common.migrations import ALL_SCHEMAS, alembic_config, upgrade
from services.gateway.tables import metadata as gateway_metadata
from services.key_server.tables import metadata as key_server_metadata
from services.payment_tee.core.tables import metadata as ledger_metadata

METADATA = {
    "ledger": ledger_metadata,
    "gateway": gateway_metadata,
    "billing": billing_metadata,
    "key_server": key_server_metadata,
}


@pytest.fixture
def scratch_url(database_url):
    """A throwaway database next to the session's, for down-and-up cycles."""
    name = f"sealpay_migrations_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.parametrize("target", ALL_SCHEMAS, ids=lambda t: t.schema)
def test_migrations_match_table_definitions(engine, target):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                # procrastinate's job tables live in the worker services' schemas
                # but are defined by procrastinate, not by our table definitions.
                "include_name": lambda name, type_, _p: (
                    name == target.schema
                    if type_ == "schema"
                    else name != "alembic_version" and not name.startswith("procrastinate")
                ),
                "compare_type": True,
            },
        )
        diff = compare_metadata(ctx, METADATA[target.schema])
    assert diff == []


@pytest.mark.parametrize("target", ALL_SCHEMAS, ids=lambda t: t.schema)
def test_migrations_downgrade_and_upgrade_again(scratch_url, target):
    from alembic import command

    upgrade(target, scratch_url)
    engine = sa.create_engine(scratch_url)
    with engine.connect() as conn:
        cfg = alembic_config(target, scratch_url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
        conn.commit()
        tables = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_tables "
                "WHERE schemaname = :s AND tablename <> 'alembic_version'"
            ),
            {"s": target.schema},
        ).scalar_one()
        assert tables == 0
    engine.dispose()
    upgrade(target, scratch_url)


def test_revision_files_are_dated():
    import re

    for target in ALL_SCHEMAS:
        for path in (target.script_location / "versions").glob("[!_]*.py"):
            assert re.match(r"^\d{4}_\d{2}_\d{2}_\d{4}_[0-9a-f]{12}_\w+\.py$", path.name), path.name


def test_partial_indexes_and_fillfactor_are_in_the_database(engine):
    """compare_metadata does not look at index predicates or storage options."""
    with engine.connect() as conn:
        defs = dict(
            conn.execute(
                sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'ledger'")
            ).all()
        )
        options = dict(
            conn.execute(
                sa.text(
                    "SELECT relname, array_to_string(reloptions, ',') FROM pg_class "
                    "WHERE relnamespace = 'ledger'::regnamespace AND relkind = 'r'"
                )
            ).all()
        )
    assert "WHERE (payer_owner_id IS NOT NULL)" in defs["ix_entries_payer_history"]
    assert "WHERE (payee_owner_id IS NOT NULL)" in defs["ix_entries_payee_history"]
    assert "WHERE (related_entry_id IS NOT NULL)" in defs["ix_entries_related_entry_id"]
    assert options["accounts"] == "fillfactor=70"
    assert options["monthly_counters"] == "fillfactor=70"
