"""The gateway's own schema: who the agents are and how they authenticate.

Balances and tiers are not here: the payment core owns them (DESIGN.md rule 4).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import BYTEA, UUID

from services.common.schema import service_metadata

SCHEMA = "gateway"

metadata = service_metadata(SCHEMA)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'", name="name_format"),
    # Names are unique regardless of case: "Alice" and "alice" are one recipient.
    sa.Index("uq_agents_lower_name", sa.text("lower(name)"), unique=True),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("agent_id", UUID(as_uuid=True), sa.ForeignKey(agents.c.id), nullable=False),
    sa.Column("key_hash", BYTEA, nullable=False, unique=True),
    sa.Column("prefix", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_api_keys_agent_id", "agent_id"),
)
