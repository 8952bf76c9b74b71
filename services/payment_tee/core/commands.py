"""What callers ask the core to do. Validated here: the core trusts nobody."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.common.ids import IDEMPOTENCY_KEY_RULE, is_idempotency_key
from services.payment_tee.core.canonical import canonical_json
from services.payment_tee.core.errors import InvalidAmount, InvalidRequest, SelfTransfer
from services.payment_tee.core.money import MAX_AMOUNT, is_valid_amount, is_valid_asset
from services.payment_tee.core.records import AccountRef

MEMO_MAX = 500
_ACCOUNT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_REFERENCE = re.compile(r"[\x21-\x7e]{1,200}")


class TransferKind(StrEnum):
    HUB_ROUTING = "hub_routing"  # agent to agent, with tier commission
    INTERNAL = "internal_transfer"  # between one agent's own accounts, fee-free


def request_hash(operation: str, params: dict[str, Any]) -> bytes:
    """Fingerprint of a request's parameters, stored beside its idempotency key."""
    return hashlib.sha256(canonical_json({"op": operation, **params})).digest()


def check_idempotency_key(key: str) -> None:
    if not is_idempotency_key(key):
        raise InvalidRequest(
            f"idempotency key must be {IDEMPOTENCY_KEY_RULE}", field="idempotency_key"
        )


def check_amount(amount: object) -> None:
    if not is_valid_amount(amount):
        raise InvalidAmount(
            f"amount must be an integer between 1 and {MAX_AMOUNT} minor units", amount=amount
        )


def check_account_name(name: str) -> None:
    if not isinstance(name, str) or not _ACCOUNT_NAME.fullmatch(name):
        raise InvalidRequest(
            "account name must be 1-32 of a-z, 0-9, '_' or '-', starting with a letter or digit",
            field="name",
        )


def check_asset(asset: str) -> None:
    if not isinstance(asset, str) or not is_valid_asset(asset):
        raise InvalidRequest("asset must be an upper-case ticker such as XMR", field="asset")


def check_memo(memo: str | None) -> None:
    if memo is not None and (not isinstance(memo, str) or len(memo) > MEMO_MAX):
        raise InvalidRequest(
            f"memo must be a string of at most {MEMO_MAX} characters", field="memo"
        )
    if memo is not None and "\x00" in memo:  # PostgreSQL text cannot hold NUL
        raise InvalidRequest("memo cannot contain the NUL character", field="memo")


def check_reference(reference: str) -> None:
    if not isinstance(reference, str) or not _REFERENCE.fullmatch(reference):
        raise InvalidRequest(
            "reference must be 1-200 printable ASCII characters", field="reference"
        )


@dataclass(frozen=True)
class TransferCommand:
    kind: TransferKind
    payer: AccountRef
    payee: AccountRef
    amount: int
    idempotency_key: str
    memo: str | None = None

    def validate(self) -> None:
        check_idempotency_key(self.idempotency_key)
        check_amount(self.amount)
        check_memo(self.memo)
        for ref in (self.payer, self.payee):
            check_account_name(ref.name)
            check_asset(ref.asset)
        same_owner = self.payer.owner_id == self.payee.owner_id
        if self.kind is TransferKind.HUB_ROUTING and same_owner:
            raise SelfTransfer("an agent cannot pay itself; use an internal transfer")
        if self.kind is TransferKind.INTERNAL and not same_owner:
            raise InvalidRequest("an internal transfer stays within one agent's accounts")
        if self.payer == self.payee:
            raise InvalidRequest(
                "from_account and to_account are the same account", field="to_account"
            )

    @property
    def scope(self) -> str:
        return f"agent:{self.payer.owner_id}"

    def fingerprint(self) -> bytes:
        return request_hash(
            self.kind.value,
            {
                "payer": [str(self.payer.owner_id), self.payer.name, self.payer.asset],
                "payee": [str(self.payee.owner_id), self.payee.name, self.payee.asset],
                "amount": self.amount,
                "memo": self.memo,
            },
        )


@dataclass(frozen=True)
class CreditCommand:
    """Money entering an agent account from outside (a deposit, an operator credit).

    `source` names the platform account that balances it (e.g. "credits:manual",
    "deposits:btc"); `scope` partitions idempotency keys by who issues them.
    """

    account: AccountRef
    amount: int
    idempotency_key: str
    source: str
    scope: str
    actor: str
    memo: str | None = None

    def validate(self) -> None:
        check_idempotency_key(self.idempotency_key)
        check_amount(self.amount)
        check_memo(self.memo)
        check_account_name(self.account.name)
        check_asset(self.account.asset)
        check_reference(self.source)
        check_reference(self.scope)

    def fingerprint(self) -> bytes:
        return request_hash(
            "credit",
            {
                "account": [str(self.account.owner_id), self.account.name, self.account.asset],
                "amount": self.amount,
                "source": self.source,
                "memo": self.memo,
            },
        )


@dataclass(frozen=True)
class ChargeCommand:
    """Debit an agent account for a fee or subscription, into a platform revenue account."""

    account: AccountRef
    amount: int
    idempotency_key: str
    purpose: str
    scope: str
    actor: str
    memo: str | None = None

    def validate(self) -> None:
        check_idempotency_key(self.idempotency_key)
        check_amount(self.amount)
        check_memo(self.memo)
        check_account_name(self.account.name)
        check_asset(self.account.asset)
        check_reference(self.purpose)
        check_reference(self.scope)

    def fingerprint(self) -> bytes:
        return request_hash(
            "charge",
            {
                "account": [str(self.account.owner_id), self.account.name, self.account.asset],
                "amount": self.amount,
                "purpose": self.purpose,
                "memo": self.memo,
            },
        )


@dataclass(frozen=True)
class RefundCommand:
    """Return (part of) a charge to the account it was taken from."""

    charge_id: uuid.UUID
    amount: int
    idempotency_key: str
    scope: str
    actor: str
    memo: str | None = None

    def validate(self) -> None:
        check_idempotency_key(self.idempotency_key)
        check_amount(self.amount)
        check_memo(self.memo)
        check_reference(self.scope)

    def fingerprint(self) -> bytes:
        return request_hash(
            "refund", {"charge_id": str(self.charge_id), "amount": self.amount, "memo": self.memo}
        )


@dataclass(frozen=True)
class CancelChargeCommand:
    """Give up on the charge under `scope`/`idempotency_key` on `account`.

    Answered with the charge's receipt when it already posted; otherwise the
    key is cancelled for good and any later charge under it is refused. This
    is how a caller whose charge outcome is unknown (a timeout, a crash before
    it recorded the answer) learns the truth without risking a charge: the
    answer holds forever, because nothing can post under the key afterwards.
    """

    account: AccountRef
    idempotency_key: str
    scope: str
    actor: str

    def validate(self) -> None:
        check_idempotency_key(self.idempotency_key)
        check_account_name(self.account.name)
        check_asset(self.account.asset)
        check_reference(self.scope)
        check_reference(self.actor)
