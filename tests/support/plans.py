"""Query plans, for tests that a periodic or per-workflow query finds its rows by index."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine


def plan(engine: Engine, sql: str, params: Any) -> str:
    """EXPLAIN of `sql` with sequential scans priced out: a table the query can
    reach through an index is then read through it, however few rows it holds,
    and a table it cannot still shows as a Seq Scan."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        if isinstance(params, dict):
            rows = conn.execute(sa.text(f"EXPLAIN {sql}"), params)
        else:  # psycopg placeholders (%s)
            rows = conn.exec_driver_sql(f"EXPLAIN {sql}", tuple(params))
        text = "\n".join(row[0] for row in rows)
        conn.rollback()
    return text
