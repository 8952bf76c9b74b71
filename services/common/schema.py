"""One naming convention for every service's tables, so constraint names are
predictable in migrations and in error handling (e.g. `uq_agents_lower_name`)."""

from __future__ import annotations

import sqlalchemy as sa

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata(schema: str) -> sa.MetaData:
    """The MetaData of a service's own schema (one owner per table)."""
    return sa.MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
