"""Typed results of the gateway's non-receipt endpoints. Money is integer minor units.

Each ``from_wire`` reads the JSON object strictly: a member missing or of the
wrong type is an :class:`UnexpectedResponseError`, never a silent default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sealpay.errors import UnexpectedResponseError
from sealpay.receipts import Receipt


@dataclass(frozen=True)
class Registration:
    """A newly registered agent. ``api_key`` is shown once: the gateway stores only its hash."""

    agent_id: str
    name: str
    api_key: str
    tier: str

    def __repr__(self) -> str:
        return f"Registration(agent_id={self.agent_id!r}, name={self.name!r}, tier={self.tier!r})"

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Registration:
        return cls(
            agent_id=_str(data, "agent_id"),
            name=_str(data, "name"),
            api_key=_str(data, "api_key"),
            tier=_str(data, "tier"),
        )


@dataclass(frozen=True)
class AgentInfo:
    """The calling agent (``GET /v2/me``)."""

    agent_id: str
    name: str
    tier: str
    created_at: datetime

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> AgentInfo:
        raw = _str(data, "created_at")
        try:
            created_at = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise UnexpectedResponseError(
                f"created_at is not an ISO 8601 instant: {raw!r}", status=None
            ) from exc
        return cls(
            agent_id=_str(data, "agent_id"),
            name=_str(data, "name"),
            tier=_str(data, "tier"),
            created_at=created_at,
        )


@dataclass(frozen=True)
class AccountBalance:
    """One of an agent's accounts (``main`` and any sub-accounts)."""

    name: str
    available: int

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> AccountBalance:
        return cls(name=_str(data, "name"), available=_int(data, "available"))


@dataclass(frozen=True)
class Balance:
    """``GET /v2/me/balance``: ``available`` is the sum over ``accounts``."""

    asset: str
    available: int
    pending: int
    accounts: tuple[AccountBalance, ...]

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Balance:
        accounts = data.get("accounts")
        if not isinstance(accounts, list):
            raise UnexpectedResponseError("accounts must be a list", status=None)
        return cls(
            asset=_str(data, "asset"),
            available=_int(data, "available"),
            pending=_int(data, "pending"),
            accounts=tuple(AccountBalance.from_wire(_object(a, "accounts[]")) for a in accounts),
        )

    def account(self, name: str) -> AccountBalance:
        """The account called ``name``; ``KeyError`` when the agent has none."""
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(name)


@dataclass(frozen=True)
class ReceiptPage:
    """One page of ``GET /v2/payments``, newest first; ``next_cursor`` is None on the last."""

    receipts: tuple[Receipt, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class TierChange:
    """The tier an operator set (``POST /v2/admin/agents/{id}/tier``)."""

    agent_id: str
    tier: str

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> TierChange:
        return cls(agent_id=_str(data, "agent_id"), tier=_str(data, "tier"))


@dataclass(frozen=True)
class IssuedApiKey:
    """A new API key an operator issued (``POST /v2/admin/agents/{id}/api-keys``).
    ``api_key`` is shown once; ``revoked`` counts the older keys it replaced."""

    agent_id: str
    key_id: str
    api_key: str
    prefix: str
    revoked: int

    def __repr__(self) -> str:
        return f"IssuedApiKey(agent_id={self.agent_id!r}, prefix={self.prefix!r})"

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> IssuedApiKey:
        return cls(
            agent_id=_str(data, "agent_id"),
            key_id=_str(data, "key_id"),
            api_key=_str(data, "api_key"),
            prefix=_str(data, "prefix"),
            revoked=_int(data, "revoked"),
        )


def _object(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise UnexpectedResponseError(f"{name} must be a JSON object", status=None)
    return value


def _str(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise UnexpectedResponseError(f"{name} must be a string", status=None)
    return value


def _int(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise UnexpectedResponseError(f"{name} must be an integer", status=None)
    return value
