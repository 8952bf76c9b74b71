"""Wire format of the agent vault endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.key_server.vault.service import MAX_VALUE_LENGTH, NAME_PATTERN


class StoreSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN, examples=["openai"])
    value: str = Field(
        min_length=1, max_length=MAX_VALUE_LENGTH, description="Stored encrypted; never returned."
    )

    @field_validator("value")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        # Its hint is stored as text, which PostgreSQL cannot hold a NUL in.
        if "\x00" in value:
            raise ValueError("a secret cannot contain the NUL character")
        return value


class SecretOut(BaseModel):
    name: str
    hint: str = Field(description="The last 4 characters (empty for values under 16 characters).")
    created_at: datetime
    updated_at: datetime


class SecretList(BaseModel):
    secrets: list[SecretOut]
