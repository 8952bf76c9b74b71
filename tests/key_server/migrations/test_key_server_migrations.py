"""The key_server migration builds exactly tables.py, plus procrastinate's schema in
the same schema (its tables are procrastinate's own, so they are left out of the
comparison), and goes down and up again cleanly."""

import uuid

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import make_url

from services.common.migrations import KEY_SERVER, alembic_config, upgrade
from services.key_server.tables import metadata

PROCRASTINATE_TABLES = {
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_workers",
}


def _ours(name, type_, _parent) -> bool:
    if type_ == "schema":
        return name == KEY_SERVER.schema
    return name != "alembic_version" and not (name or "").startswith("procrastinate")


def test_the_migration_matches_the_table_definitions(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_schemas": True, "include_name": _ours, "compare_type": True}
        )
        assert compare_metadata(ctx, metadata) == []


def test_procrastinate_lives_in_the_key_server_schema(engine):
    with engine.connect() as conn:
        tables = set(
            conn.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'key_server'")
            ).scalars()
        )
        defer = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_proc WHERE proname = 'procrastinate_defer_jobs_v1' "
                "AND pronamespace = 'key_server'::regnamespace"
            )
        ).scalar_one()
        public = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'procrastinate%' "
                "AND schemaname = 'public'"
            )
        ).scalar_one()
    assert tables >= PROCRASTINATE_TABLES
    assert defer == 1 and public == 0


@pytest.fixture
def scratch_url(database_url):
    name = f"sealpay_ks_migrations_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_down_to_nothing_and_up_again(scratch_url):
    upgrade(KEY_SERVER, scratch_url)
    engine = sa.create_engine(scratch_url)
    with engine.connect() as conn:
        cfg = alembic_config(KEY_SERVER, scratch_url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
        conn.commit()
        left = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM pg_tables WHERE schemaname = 'key_server' "
                "AND tablename <> 'alembic_version') + (SELECT count(*) FROM pg_proc "
                "WHERE pronamespace = 'key_server'::regnamespace) + (SELECT count(*) FROM pg_type "
                "WHERE typnamespace = 'key_server'::regnamespace AND typname LIKE 'procrastinate%')"
            )
        ).scalar_one()
    engine.dispose()
    assert left == 0
    upgrade(KEY_SERVER, scratch_url)
