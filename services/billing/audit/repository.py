"""SQL for the billing audit trail (append-only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from services.billing.dbtypes import Conn


@dataclass(frozen=True)
class AuditEvent:
    id: int
    agent_id: uuid.UUID | None
    subscription_id: uuid.UUID | None
    action: str
    actor: str
    details: dict[str, Any]
    at: datetime


async def append(
    conn: Conn,
    *,
    agent_id: uuid.UUID | None,
    subscription_id: uuid.UUID | None,
    action: str,
    actor: str,
    details: dict[str, Any],
    at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO billing.audit_events (agent_id, subscription_id, action, actor, details, at) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (agent_id, subscription_id, action, actor, Jsonb(details), at),
    )


async def for_agent(conn: Conn, agent_id: uuid.UUID) -> list[AuditEvent]:
    async with conn.cursor(row_factory=class_row(AuditEvent)) as cur:
        await cur.execute(
            "SELECT id, agent_id, subscription_id, action, actor, details, at "
            "FROM billing.audit_events WHERE agent_id = %s ORDER BY id",
            (agent_id,),
        )
        return await cur.fetchall()
