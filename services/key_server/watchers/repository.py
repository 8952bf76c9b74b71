"""SQL for chain watchers (key_server.watchers); their secrets live in the vault."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy import Connection


class WatcherRow(NamedTuple):
    id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


def insert_watcher(conn: Connection, row: WatcherRow) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO key_server.watchers (id, name, created_at, revoked_at) "
            "VALUES (:id, :name, :created_at, :revoked_at)"
        ),
        row._asdict(),
    )


def is_active(conn: Connection, watcher_id: str) -> bool:
    found = conn.execute(
        sa.text("SELECT 1 FROM key_server.watchers WHERE id = :id AND revoked_at IS NULL"),
        {"id": watcher_id},
    ).first()
    return found is not None


def list_watchers(conn: Connection) -> list[WatcherRow]:
    rows = conn.execute(
        sa.text(
            "SELECT id, name, created_at, revoked_at FROM key_server.watchers "
            "ORDER BY created_at, id"
        )
    ).all()
    return [WatcherRow(*r) for r in rows]


def revoke_watcher(conn: Connection, watcher_id: str, now: datetime) -> bool:
    row = conn.execute(
        sa.text(
            "UPDATE key_server.watchers SET revoked_at = :now "
            "WHERE id = :id AND revoked_at IS NULL RETURNING id"
        ),
        {"id": watcher_id, "now": now},
    ).first()
    return row is not None
