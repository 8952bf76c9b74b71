"""Test infrastructure: one real PostgreSQL database per session, migrated with Alembic.

With DATABASE_URL set, a fresh database is created on that server; without it
the embedded PostgreSQL (pgserver) under `.data/test-pg` is used (DESIGN.md
rule 8). Every test that touches data starts from empty tables (TRUNCATE), so
tests can commit, run threads and processes, and still stay independent.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from services.common import database
from services.common.migrations import ALL_SCHEMAS, upgrade_all

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_DATA_DIR = REPO_ROOT / ".data" / "test"


def _server_url() -> tuple[str, bool]:
    """(URL of a maintenance database, whether this session started the server)."""
    explicit = os.environ.get("DATABASE_URL")
    if explicit:
        return database.sqlalchemy_url(explicit), False
    was_running = (TEST_DATA_DIR / "pg" / "postmaster.pid").exists()
    return database.start_embedded(TEST_DATA_DIR, database="postgres"), not was_running


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    server_url, started_here = _server_url()
    name = f"sealpay_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    upgrade_all(url)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    if started_here:
        database.stop_embedded(TEST_DATA_DIR)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = database.create_db_engine(database_url, pool_size=20, application_name="sealpay-tests")
    yield eng
    eng.dispose()


def _data_tables(conn: sa.Connection) -> list[str]:
    schemas = [s.schema for s in ALL_SCHEMAS]
    rows = conn.execute(
        sa.text(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(:s) "
            "AND tablename <> 'alembic_version'"
        ),
        {"s": schemas},
    ).all()
    return [f'"{r.schemaname}"."{r.tablename}"' for r in rows]


@pytest.fixture
def db(engine: Engine) -> Engine:
    """The session engine over empty tables."""
    with engine.begin() as conn:
        tables = _data_tables(conn)
        if tables:
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    return engine


@pytest.fixture
def core(db: Engine):
    """A payment core (with its batcher) over empty tables, closed after the test."""
    from support.factories import make_core

    instance = make_core(db)
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def mtls(tmp_path_factory):
    """One CA with server and client certificates for the whole session."""
    from support.tee import make_mtls

    return make_mtls(tmp_path_factory.mktemp("mtls") / "material")


@pytest.fixture(scope="session")
def simulated_chain_dir(tmp_path_factory):
    """A simulated AMD chain, created once (RSA-4096 key generation is slow)."""
    from services.payment_tee.attestation.providers import load_or_create_simulated_chain

    directory = tmp_path_factory.mktemp("simulated-amd") / "chain"
    load_or_create_simulated_chain(directory)
    return directory


@pytest.fixture
def billing_url(db, database_url: str) -> Iterator[str]:
    """The real billing service next to the gateway (tiers and upgrades live there)."""
    from support.factories import ADMIN_TOKEN, AUDIT_KEY, MARCH_15, SERVICE_TOKEN
    from support.servers import serve

    from services.billing.app import create_app as create_billing
    from services.billing.settings import BillingSettings
    from services.common.clock import FixedClock

    settings = BillingSettings(
        sealpay_env="test",
        database_url=database_url,
        sealpay_service_token=SERVICE_TOKEN,
        sealpay_admin_token=ADMIN_TOKEN,
        ledger_audit_key=AUDIT_KEY.decode(),
        rate_sources="static",
        rate_static="XMR-USD:150.00,BTC-USD:60000",
        billing_renewal_cron="",
    )
    with serve(create_billing(settings, engine=db, clock=FixedClock(MARCH_15))) as url:
        yield url
