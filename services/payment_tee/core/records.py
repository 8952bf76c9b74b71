"""Plain records the core passes around (rows in, receipts out)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.payment_tee.core.tiers import Tier

MAIN_ACCOUNT = "main"


@dataclass(frozen=True)
class AccountRef:
    """An agent's account by meaning: whose, which one, in what asset."""

    owner_id: uuid.UUID
    name: str
    asset: str


@dataclass(frozen=True)
class LockedAccount:
    id: int
    owner_id: uuid.UUID
    name: str
    asset: str
    balance: int
    tier: Tier
    audit_seq: int
    audit_head: bytes | None

    @property
    def ref(self) -> AccountRef:
        return AccountRef(self.owner_id, self.name, self.asset)


@dataclass(frozen=True)
class Holder:
    owner_id: uuid.UUID
    tier: Tier
    created_at: datetime


@dataclass(frozen=True)
class AccountBalance:
    name: str
    asset: str
    available: int


@dataclass(frozen=True)
class Balance:
    owner_id: uuid.UUID
    asset: str
    available: int
    pending: int
    accounts: tuple[AccountBalance, ...]


@dataclass(frozen=True)
class Usage:
    owner_id: uuid.UUID
    tier: Tier
    month: str
    transfers: int
    limit: int | None


@dataclass(frozen=True)
class Line:
    account_id: int
    amount: int
