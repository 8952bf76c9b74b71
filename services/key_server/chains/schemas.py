"""Wire format of the chain endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

CHAIN_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
ASSET_PATTERN = r"^[A-Z][A-Z0-9]{1,9}$"
MAX_CONFIRMATIONS = 10_000


class RegisterChain(BaseModel):
    """An account-level extended public key, or a Monero watch-only key pair."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=CHAIN_ID_PATTERN, examples=["btc"])
    coin: str = Field(
        min_length=1,
        max_length=32,
        description="bitcoin, litecoin, dogecoin, ethereum (or evm), monero",
        examples=["bitcoin"],
    )
    network: str = Field(min_length=1, max_length=32, examples=["mainnet"])
    xpub: str | None = Field(
        default=None,
        max_length=200,
        description="Account-level extended public key: xpub/ypub/zpub, tpub/upub/vpub, "
        "Ltub/Mtub/ttub, dgub/tgub. Not for Monero.",
    )
    public_spend_key: str | None = Field(default=None, max_length=64, description="Monero only.")
    private_view_key: str | None = Field(
        default=None,
        max_length=64,
        description="Monero only. Kept encrypted in the vault; never returned.",
    )
    primary_address: str | None = Field(
        default=None,
        max_length=120,
        description="Monero only, optional: the wallet's primary address, checked against the "
        "keys.",
    )
    confirmations: StrictInt | None = Field(
        default=None,
        ge=1,
        le=MAX_CONFIRMATIONS,
        description="Confirmations before a payment counts (default per coin).",
    )
    asset: str | None = Field(
        default=None,
        pattern=ASSET_PATTERN,
        description="Ledger asset credited for deposits (default BTC, LTC, DOGE, ETH, XMR).",
    )


class UpdateChain(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirmations: StrictInt | None = Field(default=None, ge=1, le=MAX_CONFIRMATIONS)
    enabled: StrictBool | None = None


class ChainOut(BaseModel):
    id: str
    coin: str
    network: str
    asset: str
    confirmations: int
    enabled: bool
    address_type: str
    key_fingerprint: str = Field(description="SHA-256 identity of the key material.")
    key_prefix: str | None = Field(description="The extended key's version prefix (not Monero).")
    bip32_fingerprint: str | None = Field(description="The 4-byte fingerprint wallets display.")
    key_depth: int | None
    first_index: int
    addresses_allocated: int
    check_address: str = Field(
        description="The address at the first index: compare it with your wallet's first "
        "receive address before sending funds."
    )
    created_at: datetime
    updated_at: datetime
    deleted: bool
    warnings: list[str] = Field(default_factory=list)


class ChainList(BaseModel):
    chains: list[ChainOut]
