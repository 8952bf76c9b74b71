"""The body of every service's `migrations/env.py`.

Runs on the connection handed over by `services.common.migrations.upgrade`, or
opens one from the configured URL (for the `alembic` command line).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context


def run(metadata: sa.MetaData) -> None:
    config = context.config
    schema: str = config.attributes.get("schema") or str(metadata.schema)
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection, metadata, schema)
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        _configure_and_run(conn, metadata, schema)
        conn.commit()


def _configure_and_run(connection: sa.Connection, metadata: sa.MetaData, schema: str) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=lambda name, type_, _parent: type_ != "schema" or name == schema,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
