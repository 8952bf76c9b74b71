"""Wire format of the agent endpoints."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from pydantic import BaseModel, Field

AGENT_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_AGENT_NAME = re.compile(AGENT_NAME)


def is_agent_name(value: str) -> bool:
    """Whether `value` could name an agent (what registration accepts)."""
    return _AGENT_NAME.fullmatch(value) is not None


class RegisterAgent(BaseModel):
    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=f"^{AGENT_NAME}$",
        description="Unique (case-insensitively); letters, digits, '_', '.', '-'.",
        examples=["alice"],
    )


class RegisteredAgent(BaseModel):
    agent_id: uuid.UUID
    name: str
    api_key: str = Field(description="Shown once. Only its SHA-256 is stored.")
    tier: str


class Me(BaseModel):
    agent_id: uuid.UUID
    name: str
    tier: str
    created_at: datetime


class AccountOut(BaseModel):
    name: str
    available: int


class BalanceOut(BaseModel):
    asset: str
    available: int = Field(description="Sum over the agent's accounts, in minor units.")
    pending: int
    accounts: list[AccountOut]


class OpenAccount(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", examples=["savings"])
