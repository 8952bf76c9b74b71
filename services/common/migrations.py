"""Alembic, one schema per service.

Each service keeps its migrations in `<service>/migrations/` with its own
version table inside its own schema (`<schema>.alembic_version`), so services
migrate independently and never touch each other's tables (DESIGN.md rule 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

SERVICES_DIR = Path(__file__).resolve().parents[1]

# Lock id for `pg_advisory_lock`: several processes may start at once (make run,
# replicas); only one migrates a schema at a time.
_MIGRATION_LOCK = 0x5EA1_0001


@dataclass(frozen=True)
class ServiceSchema:
    service: str
    schema: str

    @property
    def script_location(self) -> Path:
        return SERVICES_DIR / self.service / "migrations"


LEDGER = ServiceSchema("payment_tee", "ledger")
GATEWAY = ServiceSchema("gateway", "gateway")
BILLING = ServiceSchema("billing", "billing")
KEY_SERVER = ServiceSchema("key_server", "key_server")
ALL_SCHEMAS: tuple[ServiceSchema, ...] = (LEDGER, GATEWAY, BILLING, KEY_SERVER)


def alembic_config(target: ServiceSchema, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(target.script_location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option(
        "file_template",
        "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s",
    )
    cfg.attributes["schema"] = target.schema
    return cfg


def upgrade(target: ServiceSchema, url: str, revision: str = "head") -> None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
            try:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{target.schema}"'))
                conn.commit()
                cfg = alembic_config(target, url)
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                conn.commit()
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
                conn.commit()
    finally:
        engine.dispose()


def upgrade_all(url: str, targets: tuple[ServiceSchema, ...] = ALL_SCHEMAS) -> None:
    for target in targets:
        upgrade(target, url)
