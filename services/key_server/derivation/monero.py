"""Watch-only Monero accounts and their subaddresses.

A Monero deposit server needs the public spend key (to build subaddresses)
and the private view key (to build them, and later to see payments to them);
neither can spend. Subaddresses are (major, minor) pairs; we use account
major 0 and the minor index as the deposit index.

Subaddress (0, 0) is the wallet's primary address. Everything else paid to the
wallet (change, other income, an exchange withdrawal) can land there too, so
a payment to it cannot be attributed to one deposit. `derive_address` therefore
refuses minor index 0 for Monero and deposit allocation starts at 1
(`ChainSpec.first_index`); `MoneroAccountKey.primary_address` is there for
display and for checking the keys against the address the operator knows.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from bip_utils import (
    Monero,
    MoneroKeyError,
    MoneroPrivateKey,
    MoneroPublicKey,
    MoneroSubaddress,
    XmrAddrDecoder,
)

from services.key_server.derivation.chains import (
    SUPPORTED_NETWORKS,
    AddressType,
    ChainKind,
    Network,
    monero_primary_version,
    monero_subaddress_version,
    parse_chain,
)
from services.key_server.derivation.errors import (
    InvalidAddress,
    InvalidMoneroKey,
    NetworkMismatch,
    PrivateKeyRefused,
)

MONERO_ACCOUNT_MAJOR = 0
"""The subaddress account (major index) every deposit address is drawn from."""

FINGERPRINT_DOMAIN = b"sealpay/monero-account/v1\x00"

_HEX32 = re.compile(r"[0-9a-fA-F]{64}")
_MAX_ADDRESS_LEN = 120  # a primary address is 95 characters


@dataclass(frozen=True, slots=True)
class MoneroAccountKey:
    """A checked watch-only key pair for one Monero network.

    The private view key is kept out of `repr` so that it does not end up in
    logs: it cannot spend, but it reveals every incoming payment.
    """

    network: Network
    public_spend_key: bytes
    public_view_key: bytes
    private_view_key: bytes = field(repr=False)

    @property
    def chain_kind(self) -> ChainKind:
        return ChainKind.MONERO

    @property
    def address_type(self) -> AddressType:
        return AddressType.MONERO_SUBADDRESS

    @property
    def fingerprint(self) -> str:
        """Identifies the wallet: the two public keys fix every address of it."""
        digest = hashlib.sha256(FINGERPRINT_DOMAIN + self.public_spend_key + self.public_view_key)
        return digest.hexdigest()

    @property
    def primary_address(self) -> str:
        return _encode(self, minor=0, version=monero_primary_version(self.network))

    def subaddress(self, minor: int) -> str:
        """Subaddress (MONERO_ACCOUNT_MAJOR, minor); the caller checks the index rules."""
        return _encode(self, minor=minor, version=monero_subaddress_version(self.network))


def parse_monero_keys(
    network: Network | str,
    public_spend_key: str,
    private_view_key: str,
    *,
    primary_address: str | None = None,
) -> MoneroAccountKey:
    """Check a watch-only key pair, both as 64 hex characters.

    With `primary_address` (the wallet's standard 4.../5.../9... address) the
    keys must be that wallet's, and the address's network must be `network`:
    the cheapest guard against a view key pasted from another wallet.
    """
    _, net = parse_chain(ChainKind.MONERO, network)
    spend_bytes = _hex32(public_spend_key, "public spend key")
    view_bytes = _hex32(private_view_key, "private view key")
    _refuse_spend_key(spend_bytes, view_bytes)
    try:
        view_key = MoneroPrivateKey.FromBytes(view_bytes)
    except MoneroKeyError:
        raise InvalidMoneroKey("the private view key is not a reduced ed25519 scalar") from None
    try:
        MoneroPublicKey.FromBytes(spend_bytes)
    except MoneroKeyError:
        raise InvalidMoneroKey("the public spend key is not an ed25519 point") from None
    key = MoneroAccountKey(
        network=net,
        public_spend_key=spend_bytes,
        public_view_key=view_key.PublicKey().RawCompressed().ToBytes(),
        private_view_key=view_bytes,
    )
    if primary_address is not None:
        _check_primary_address(key, primary_address)
    return key


def _hex32(value: str, name: str) -> bytes:
    text = value.strip() if isinstance(value, str) else ""
    if not _HEX32.fullmatch(text):
        raise InvalidMoneroKey(f"the {name} must be 64 hexadecimal characters")
    return bytes.fromhex(text)


def _refuse_spend_key(spend_bytes: bytes, view_bytes: bytes) -> None:
    """Catch the private spend key pasted into either field.

    Standard wallets derive the private view key as Keccak(private spend key)
    reduced, so a "public spend key" whose view key is the one given is the
    private spend key; and a "private view key" whose public key is the public
    spend key is the private spend key itself.
    """
    try:
        as_spend_wallet = Monero.FromPrivateSpendKey(spend_bytes)
    except MoneroKeyError:
        as_spend_wallet = None
    if as_spend_wallet is not None and _raw(as_spend_wallet.PrivateViewKey()) == view_bytes:
        raise PrivateKeyRefused(
            "the public spend key field holds the private spend key; "
            "give the public spend key and the private view key"
        )
    try:
        view_as_public = MoneroPrivateKey.FromBytes(view_bytes).PublicKey()
    except MoneroKeyError:
        return
    if view_as_public.RawCompressed().ToBytes() == spend_bytes:
        raise PrivateKeyRefused(
            "the private view key field holds the private spend key; "
            "give the private view key instead"
        )


def _check_primary_address(key: MoneroAccountKey, address: str) -> None:
    text = address.strip() if isinstance(address, str) else ""
    decoded = _decode_primary(text) if 0 < len(text) <= _MAX_ADDRESS_LEN else None
    if decoded is None:
        raise InvalidAddress(
            "not a Monero primary address (subaddresses and integrated addresses "
            "cannot be checked against the keys)"
        )
    address_network, public_keys = decoded
    if address_network is not key.network:
        raise NetworkMismatch(
            f"the primary address is a {address_network.value} address, not {key.network.value}",
            chain_kind=ChainKind.MONERO.value,
            network=key.network.value,
        )
    if public_keys != key.public_spend_key + key.public_view_key:
        raise InvalidMoneroKey("the keys are not this primary address's keys")


def _decode_primary(text: str) -> tuple[Network, bytes] | None:
    for network in sorted(SUPPORTED_NETWORKS[ChainKind.MONERO]):
        try:
            public_keys: bytes = XmrAddrDecoder.DecodeAddr(
                text, net_ver=monero_primary_version(network)
            )
        except ValueError:
            continue
        return network, public_keys
    return None


def _encode(key: MoneroAccountKey, *, minor: int, version: bytes) -> str:
    subaddresses = MoneroSubaddress(
        MoneroPrivateKey.FromBytes(key.private_view_key),
        MoneroPublicKey.FromBytes(key.public_spend_key),
        MoneroPublicKey.FromBytes(key.public_view_key),
    )
    address: str = subaddresses.ComputeAndEncodeKeys(minor, MONERO_ACCOUNT_MAJOR, version)
    return address


def _raw(private_key: MoneroPrivateKey) -> bytes:
    raw: bytes = private_key.Raw().ToBytes()
    return raw
