"""Wire format of the operator's renewal run."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class RenewalRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime | None = Field(
        default=None,
        description="run the sweep as of this instant (RFC 3339); refused in production",
    )


class RenewalRunOut(BaseModel):
    at: str
    counts: dict[str, int]
    actions: list[dict[str, Any]]
