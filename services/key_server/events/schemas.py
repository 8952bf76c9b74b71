"""Wire format of signed chain events."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from services.key_server.chains.schemas import CHAIN_ID_PATTERN
from services.payment_tee.core.money import MAX_AMOUNT

MAX_OUTPUT_INDEX = 2**32 - 1
MAX_REPORTED_CONFIRMATIONS = 100_000_000


class ChainEvent(BaseModel):
    """One output paying one address, as a watcher sees it now.

    `vout` on UTXO chains and Monero, `log_index` on EVM chains; `amount` in
    the chain's minor unit (satoshi, piconero, ...; gwei on EVM chains, see
    docs/key_server.md); `confirmations` as of now (0 = in the mempool).
    """

    model_config = ConfigDict(extra="forbid")
    chain: str = Field(pattern=CHAIN_ID_PATTERN)
    txid: str = Field(min_length=1, max_length=80)
    vout: StrictInt | None = Field(default=None, ge=0, le=MAX_OUTPUT_INDEX)
    log_index: StrictInt | None = Field(default=None, ge=0, le=MAX_OUTPUT_INDEX)
    address: str = Field(min_length=1, max_length=120)
    amount: StrictInt = Field(ge=1, le=MAX_AMOUNT)
    confirmations: StrictInt = Field(ge=0, le=MAX_REPORTED_CONFIRMATIONS)

    @model_validator(mode="after")
    def _one_output_reference(self) -> ChainEvent:
        if (self.vout is None) == (self.log_index is None):
            raise ValueError("give exactly one of vout (UTXO chains, Monero) and log_index (EVM)")
        return self


class EventOut(BaseModel):
    chain: str
    txid: str
    output: int
    outcome: str = Field(description="new, updated (more confirmations) or unchanged")
    matched: str | None = Field(description="deposit, charge, or null for an unknown address")
    confirmations: int
    confirmed: bool
    charge_id: uuid.UUID | None = None
    charge_status: str | None = None
