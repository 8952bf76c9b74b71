"""Wire format of the webhook endpoints (operators)."""

from __future__ import annotations

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: AnyHttpUrl
    secret: str | None = Field(
        default=None,
        max_length=200,
        description="whsec_<base64>; generated (and shown once) when omitted",
    )
    events: list[str] | None = Field(default=None, description="event types; omitted = all")


class EndpointOut(BaseModel):
    endpoint_id: str
    url: str
    events: list[str] | None
    created_at: str
    secret: str | None = Field(default=None, description="only in the answer that created it")


class AttemptOut(BaseModel):
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    at: str


class DeliveryOut(BaseModel):
    delivery_id: str
    event_id: str
    event_type: str
    endpoint_id: str
    status: str = Field(description="pending, succeeded or failed")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    replay_of: str | None
    created_at: str
    delivered_at: str | None
    attempt_log: list[AttemptOut]
