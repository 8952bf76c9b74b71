"""Gateway: agents and API keys.

Revision ID: 7c2e4b9a1d02
Revises:
Create Date: 2026-11-23 11:40:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import BYTEA, UUID

revision = "7c2e4b9a1d02"
down_revision = None
branch_labels = None
depends_on = None

S = "gateway"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_table(
        "agents",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agents"),
        sa.CheckConstraint(
            "name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'", name="ck_agents_name_format"
        ),
        schema=S,
    )
    op.create_index(
        "uq_agents_lower_name", "agents", [sa.text("lower(name)")], unique=True, schema=S
    )
    op.create_table(
        "api_keys",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("agent_id", UUID(as_uuid=True), nullable=False),
        sa.Column("key_hash", BYTEA, nullable=False),
        sa.Column("prefix", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(
            ["agent_id"], [f"{S}.agents.id"], name="fk_api_keys_agent_id_agents"
        ),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
        schema=S,
    )
    op.create_index("ix_api_keys_agent_id", "api_keys", ["agent_id"], schema=S)


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_table("api_keys", schema=S)
    op.drop_table("agents", schema=S)
