from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TransferKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSFER_KIND_UNSPECIFIED: _ClassVar[TransferKind]
    TRANSFER_KIND_HUB_ROUTING: _ClassVar[TransferKind]
    TRANSFER_KIND_INTERNAL: _ClassVar[TransferKind]
TRANSFER_KIND_UNSPECIFIED: TransferKind
TRANSFER_KIND_HUB_ROUTING: TransferKind
TRANSFER_KIND_INTERNAL: TransferKind

class AccountRef(_message.Message):
    __slots__ = ("owner_id", "name", "asset")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ASSET_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    name: str
    asset: str
    def __init__(self, owner_id: _Optional[str] = ..., name: _Optional[str] = ..., asset: _Optional[str] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("payment_id", "kind", "from_", "to", "from_account", "to_account", "asset", "amount", "fee", "fee_bps", "net", "memo", "status", "created_at", "signer", "signing_key", "signature", "idempotency_key_sha256")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FROM__FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    FROM_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    TO_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    ASSET_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    FEE_FIELD_NUMBER: _ClassVar[int]
    FEE_BPS_FIELD_NUMBER: _ClassVar[int]
    NET_FIELD_NUMBER: _ClassVar[int]
    MEMO_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SIGNER_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_SHA256_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    kind: str
    from_: str
    to: str
    from_account: str
    to_account: str
    asset: str
    amount: int
    fee: int
    fee_bps: int
    net: int
    memo: str
    status: str
    created_at: str
    signer: str
    signing_key: str
    signature: str
    idempotency_key_sha256: str
    def __init__(self, payment_id: _Optional[str] = ..., kind: _Optional[str] = ..., from_: _Optional[str] = ..., to: _Optional[str] = ..., from_account: _Optional[str] = ..., to_account: _Optional[str] = ..., asset: _Optional[str] = ..., amount: _Optional[int] = ..., fee: _Optional[int] = ..., fee_bps: _Optional[int] = ..., net: _Optional[int] = ..., memo: _Optional[str] = ..., status: _Optional[str] = ..., created_at: _Optional[str] = ..., signer: _Optional[str] = ..., signing_key: _Optional[str] = ..., signature: _Optional[str] = ..., idempotency_key_sha256: _Optional[str] = ...) -> None: ...

class PostingReply(_message.Message):
    __slots__ = ("receipt", "replayed")
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    receipt: Receipt
    replayed: bool
    def __init__(self, receipt: _Optional[_Union[Receipt, _Mapping]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class TransferRequest(_message.Message):
    __slots__ = ("kind", "payer", "payee", "amount", "idempotency_key", "memo")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAYER_FIELD_NUMBER: _ClassVar[int]
    PAYEE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    MEMO_FIELD_NUMBER: _ClassVar[int]
    kind: TransferKind
    payer: AccountRef
    payee: AccountRef
    amount: int
    idempotency_key: str
    memo: str
    def __init__(self, kind: _Optional[_Union[TransferKind, str]] = ..., payer: _Optional[_Union[AccountRef, _Mapping]] = ..., payee: _Optional[_Union[AccountRef, _Mapping]] = ..., amount: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., memo: _Optional[str] = ...) -> None: ...

class CreditRequest(_message.Message):
    __slots__ = ("account", "amount", "idempotency_key", "source", "scope", "actor", "memo")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    MEMO_FIELD_NUMBER: _ClassVar[int]
    account: AccountRef
    amount: int
    idempotency_key: str
    source: str
    scope: str
    actor: str
    memo: str
    def __init__(self, account: _Optional[_Union[AccountRef, _Mapping]] = ..., amount: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., source: _Optional[str] = ..., scope: _Optional[str] = ..., actor: _Optional[str] = ..., memo: _Optional[str] = ...) -> None: ...

class CancelChargeRequest(_message.Message):
    __slots__ = ("account", "idempotency_key", "scope", "actor")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    account: AccountRef
    idempotency_key: str
    scope: str
    actor: str
    def __init__(self, account: _Optional[_Union[AccountRef, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., scope: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class CancelChargeReply(_message.Message):
    __slots__ = ("cancelled", "receipt")
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    cancelled: bool
    receipt: Receipt
    def __init__(self, cancelled: _Optional[bool] = ..., receipt: _Optional[_Union[Receipt, _Mapping]] = ...) -> None: ...

class ChargeRequest(_message.Message):
    __slots__ = ("account", "amount", "idempotency_key", "purpose", "scope", "actor", "memo")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    MEMO_FIELD_NUMBER: _ClassVar[int]
    account: AccountRef
    amount: int
    idempotency_key: str
    purpose: str
    scope: str
    actor: str
    memo: str
    def __init__(self, account: _Optional[_Union[AccountRef, _Mapping]] = ..., amount: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., purpose: _Optional[str] = ..., scope: _Optional[str] = ..., actor: _Optional[str] = ..., memo: _Optional[str] = ...) -> None: ...

class RefundRequest(_message.Message):
    __slots__ = ("charge_id", "amount", "idempotency_key", "scope", "actor", "memo")
    CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    MEMO_FIELD_NUMBER: _ClassVar[int]
    charge_id: str
    amount: int
    idempotency_key: str
    scope: str
    actor: str
    memo: str
    def __init__(self, charge_id: _Optional[str] = ..., amount: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., scope: _Optional[str] = ..., actor: _Optional[str] = ..., memo: _Optional[str] = ...) -> None: ...

class SetTierRequest(_message.Message):
    __slots__ = ("owner_id", "tier", "actor")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    tier: str
    actor: str
    def __init__(self, owner_id: _Optional[str] = ..., tier: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class RegisterHolderRequest(_message.Message):
    __slots__ = ("owner_id",)
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    def __init__(self, owner_id: _Optional[str] = ...) -> None: ...

class HolderReply(_message.Message):
    __slots__ = ("owner_id", "tier", "created_at")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    tier: str
    created_at: str
    def __init__(self, owner_id: _Optional[str] = ..., tier: _Optional[str] = ..., created_at: _Optional[str] = ...) -> None: ...

class OpenAccountRequest(_message.Message):
    __slots__ = ("owner_id", "name", "asset")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ASSET_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    name: str
    asset: str
    def __init__(self, owner_id: _Optional[str] = ..., name: _Optional[str] = ..., asset: _Optional[str] = ...) -> None: ...

class AccountBalance(_message.Message):
    __slots__ = ("name", "asset", "available")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ASSET_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    asset: str
    available: int
    def __init__(self, name: _Optional[str] = ..., asset: _Optional[str] = ..., available: _Optional[int] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("owner_id", "asset")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    ASSET_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    asset: str
    def __init__(self, owner_id: _Optional[str] = ..., asset: _Optional[str] = ...) -> None: ...

class BalanceReply(_message.Message):
    __slots__ = ("owner_id", "asset", "available", "pending", "accounts")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    ASSET_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    asset: str
    available: int
    pending: int
    accounts: _containers.RepeatedCompositeFieldContainer[AccountBalance]
    def __init__(self, owner_id: _Optional[str] = ..., asset: _Optional[str] = ..., available: _Optional[int] = ..., pending: _Optional[int] = ..., accounts: _Optional[_Iterable[_Union[AccountBalance, _Mapping]]] = ...) -> None: ...

class GetUsageRequest(_message.Message):
    __slots__ = ("owner_id",)
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    def __init__(self, owner_id: _Optional[str] = ...) -> None: ...

class UsageReply(_message.Message):
    __slots__ = ("owner_id", "tier", "month", "transfers", "limit")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    TRANSFERS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    tier: str
    month: str
    transfers: int
    limit: int
    def __init__(self, owner_id: _Optional[str] = ..., tier: _Optional[str] = ..., month: _Optional[str] = ..., transfers: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class GetReceiptRequest(_message.Message):
    __slots__ = ("owner_id", "payment_id")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    payment_id: str
    def __init__(self, owner_id: _Optional[str] = ..., payment_id: _Optional[str] = ...) -> None: ...

class ListReceiptsRequest(_message.Message):
    __slots__ = ("owner_id", "limit", "cursor")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    limit: int
    cursor: str
    def __init__(self, owner_id: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ReceiptPage(_message.Message):
    __slots__ = ("receipts", "next_cursor")
    RECEIPTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    receipts: _containers.RepeatedCompositeFieldContainer[Receipt]
    next_cursor: str
    def __init__(self, receipts: _Optional[_Iterable[_Union[Receipt, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class AttestationRequest(_message.Message):
    __slots__ = ("nonce",)
    NONCE_FIELD_NUMBER: _ClassVar[int]
    nonce: bytes
    def __init__(self, nonce: _Optional[bytes] = ...) -> None: ...

class AttestationDocument(_message.Message):
    __slots__ = ("mode", "report", "vcek_pem", "ask_pem", "ark_pem", "tls_certificate_pem", "receipt_public_key", "nonce")
    MODE_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    VCEK_PEM_FIELD_NUMBER: _ClassVar[int]
    ASK_PEM_FIELD_NUMBER: _ClassVar[int]
    ARK_PEM_FIELD_NUMBER: _ClassVar[int]
    TLS_CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    mode: str
    report: bytes
    vcek_pem: str
    ask_pem: str
    ark_pem: str
    tls_certificate_pem: str
    receipt_public_key: bytes
    nonce: bytes
    def __init__(self, mode: _Optional[str] = ..., report: _Optional[bytes] = ..., vcek_pem: _Optional[str] = ..., ask_pem: _Optional[str] = ..., ark_pem: _Optional[str] = ..., tls_certificate_pem: _Optional[str] = ..., receipt_public_key: _Optional[bytes] = ..., nonce: _Optional[bytes] = ...) -> None: ...
