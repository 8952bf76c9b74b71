"""Where the database is: `DATABASE_URL`, or an embedded PostgreSQL under `.data/`.

Every service and the test suite resolve the database the same way (DESIGN.md,
rule 8). The embedded server is the `pgserver` package: a real PostgreSQL
started from a wheel, listening on a Unix socket inside the data directory.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

log = logging.getLogger("sealpay.database")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Local state (embedded database, dev secrets, dev certificates, logs);
# SEALPAY_DATA_DIR moves it, e.g. for an isolated end-to-end run.
DEFAULT_DATA_DIR = Path(os.environ.get("SEALPAY_DATA_DIR") or PROJECT_ROOT / ".data")
EMBEDDED_DATABASE = "sealpay"

_servers: dict[Path, Any] = {}


def sqlalchemy_url(url: str) -> str:
    """Normalise any postgres URL to the psycopg 3 driver SQLAlchemy expects."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same URL for libpq tools (psql, pgbench) and plain psycopg."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def start_embedded(data_dir: Path | None = None, database: str = EMBEDDED_DATABASE) -> str:
    """Start (or join) the embedded PostgreSQL and make sure `database` exists.

    The server keeps running after this process exits (cleanup_mode=None) so the
    services started by `make run` and the test sessions share one instance;
    `python -m services.devserver stop-db` stops it.
    """
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver  # imported lazily: production images never load it

    pgdata = (data_dir or DEFAULT_DATA_DIR) / "pg"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = _servers.get(pgdata)
    if server is None:
        server = pgserver.get_server(pgdata, cleanup_mode=None)
        _servers[pgdata] = server
    base = server.get_uri()
    _ensure_database(sqlalchemy_url(base), database)
    return sqlalchemy_url(
        make_url(sqlalchemy_url(base)).set(database=database).render_as_string(False)
    )


def stop_embedded(data_dir: Path | None = None) -> bool:
    """Stop the embedded server if it runs; True when one was stopped."""
    from pgserver._commands import pg_ctl

    pgdata = (data_dir or DEFAULT_DATA_DIR) / "pg"
    if not (pgdata / "postmaster.pid").exists():
        return False
    # As root, pgserver runs the cluster as its own system user `pgserver`.
    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "stop"], pgdata=pgdata, user=user)
    return True


def resolve_database_url(
    explicit: str | None = None, data_dir: Path | None = None, env: str | None = None
) -> str:
    """DATABASE_URL when set; otherwise the embedded server (started on demand).

    Production never falls back to an embedded database: money would land in a
    directory nobody backs up.
    """
    url = explicit or os.environ.get("DATABASE_URL")
    if url:
        return sqlalchemy_url(url)
    if (env or os.environ.get("SEALPAY_ENV")) == "production":
        from services.common.errors import ConfigError

        raise ConfigError("DATABASE_URL is required when SEALPAY_ENV=production")
    return start_embedded(data_dir)


def _ensure_database(server_url: str, database: str) -> None:
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}
            ).scalar()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
                log.info("database.created", extra={"database": database})
    finally:
        engine.dispose()


def create_db_engine(url: str, *, pool_size: int = 10, application_name: str = "sealpay") -> Engine:
    """One engine per process and service; schema-qualified tables, no search_path tricks."""
    return sa.create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it would add a round trip to every transaction. Stale
        # connections are recycled instead, and a dropped one fails one attempt.
        pool_recycle=1800,
        connect_args={"application_name": application_name},
    )
