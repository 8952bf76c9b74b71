"""Wire format of the agent endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class RegisterAgent(BaseModel):
    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
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
