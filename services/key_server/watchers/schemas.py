"""Wire format of the watcher endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.key_server.watchers.service import NAME_PATTERN


class CreateWatcher(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN, examples=["btc-testnet-watcher"])


class CreatedWatcher(BaseModel):
    key_id: str = Field(description="Send as X-Sealpay-Key-Id.")
    secret: str = Field(description="The HMAC secret; shown once.")
    name: str
    created_at: datetime


class WatcherOut(BaseModel):
    key_id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


class WatcherList(BaseModel):
    watchers: list[WatcherOut]
