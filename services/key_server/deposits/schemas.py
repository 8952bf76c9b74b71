"""Wire format of the deposit-address endpoint."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from services.key_server.chains.schemas import CHAIN_ID_PATTERN


class DepositAddressRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chain: str = Field(pattern=CHAIN_ID_PATTERN, examples=["btc"])
    fresh: StrictBool = Field(
        default=False, description="A new address instead of the current one."
    )


class DepositAddressOut(BaseModel):
    chain: str
    address: str
    index: int = Field(description="The derivation index (receive path 0/index).")
    created: bool = Field(description="Whether this request allocated the address.")
