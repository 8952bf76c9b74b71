"""Account-level extended public keys: parsing, checking, public child derivation.

A registered key is the account node of a BIP-44/49/84 wallet
(m/purpose'/coin'/account'); deposit addresses are its external-chain
children at the relative path 0/index. The depth is not enforced: Electrum
exports its segwit account at m/0' (depth 1), and a key's depth changes none
of the addresses derived below it. It is exposed so that the service can warn.

Everything here is public-key only. The parser refuses anything that could
spend: extended private keys, WIF keys, seed phrases, bare 32-byte hex.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import Any

from bip_utils import (
    Base58ChecksumError,
    Base58Decoder,
    Bip32KeyData,
    Bip32KeyError,
    Bip32KeyNetVersions,
    Bip32Secp256k1,
    Hash160,
)

from services.key_server.derivation import slip132
from services.key_server.derivation.chains import AddressType, ChainKind, Network, parse_chain
from services.key_server.derivation.errors import (
    InvalidExtendedKey,
    InvalidIndex,
    NetworkMismatch,
    PrivateKeyRefused,
    UnsupportedChain,
)

MAX_INDEX = 2**31 - 1
"""Highest non-hardened index: public derivation cannot reach hardened ones."""

FINGERPRINT_DOMAIN = b"sealpay/account-key/v1\x00"

_SERIALIZED_LEN = 78  # version 4, depth 1, parent 4, index 4, chain code 32, key 33
_KEY_OFFSET = 45
_MAX_TEXT_LEN = 120  # a serialized extended key is 111 base58 characters
_WIF_LENGTHS = (33, 34)  # version byte + secret (+ compression flag)
_MNEMONIC_WORD_COUNTS = (12, 15, 18, 21, 24)
_BARE_HEX_SECRET = re.compile(r"(0x)?[0-9a-fA-F]{64}")


def check_index(index: int) -> int:
    """The one index rule: an int in [0, 2**31). Booleans are not indexes."""
    if type(index) is not int or not 0 <= index <= MAX_INDEX:
        raise InvalidIndex(
            f"index must be an integer in [0, {MAX_INDEX}], non-hardened", index=repr(index)
        )
    return index


@dataclass(frozen=True, slots=True)
class AccountKey:
    """An extended public key, checked for one chain and network.

    `fingerprint` identifies the key itself: SHA-256 over a domain tag, the
    compressed public key and the chain code. Those 65 bytes alone fix every
    address below the node, so the same account registered as an xpub for
    Bitcoin and as an Ltub for Litecoin has one fingerprint, which is how the
    service detects a key registered twice. `bip32_fingerprint` is the 4-byte
    hash160 prefix wallets display, for humans only (it can collide).
    """

    chain_kind: ChainKind
    network: Network
    version: slip132.KeyVersion
    address_type: AddressType
    public_key: bytes
    chain_code: bytes
    depth: int
    parent_fingerprint: bytes
    child_index: int

    @property
    def prefix(self) -> str:
        return self.version.prefix

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(FINGERPRINT_DOMAIN + self.public_key + self.chain_code)
        return digest.hexdigest()

    @property
    def bip32_fingerprint(self) -> str:
        key_hash: bytes = Hash160.QuickDigest(self.public_key)
        return key_hash[:4].hex()

    @property
    def extended_key(self) -> str:
        """The canonical serialization, with the version the key was given in."""
        serialized: str = self._node().PublicKey().ToExtended()
        return serialized

    def child(self, index: int) -> AccountKey:
        """Public (CKDpub) derivation of a non-hardened child."""
        check_index(index)
        try:
            node = self._node().ChildKey(index)
        except Bip32KeyError:
            # BIP-32: with probability below 2**-127 an index yields no valid
            # key, and the caller must move on to the next index.
            raise InvalidIndex(
                "this index yields no valid key; use the next one", index=index
            ) from None
        return replace(
            self,
            public_key=node.PublicKey().RawCompressed().ToBytes(),
            chain_code=node.ChainCode().ToBytes(),
            depth=node.Depth().ToInt(),
            parent_fingerprint=node.ParentFingerPrint().ToBytes(),
            child_index=node.Index().ToInt(),
        )

    def _node(self) -> Any:
        key_data = Bip32KeyData(
            depth=self.depth,
            index=self.child_index,
            chain_code=self.chain_code,
            parent_fprint=self.parent_fingerprint,
        )
        net_versions = Bip32KeyNetVersions(self.version.public, self.version.private)
        return Bip32Secp256k1.FromPublicKey(self.public_key, key_data, net_versions)


def parse_account_key(
    chain_kind: ChainKind | str, network: Network | str, extended_key: str
) -> AccountKey:
    """Check `extended_key` is a public account key for this chain and network.

    Raises `UnsupportedChain`, `PrivateKeyRefused`, `NetworkMismatch` or
    `InvalidExtendedKey`, in that order of precedence: spend keys are refused
    as such even when they are also for the wrong network.
    """
    kind, net = parse_chain(chain_kind, network)
    if kind is ChainKind.MONERO:
        raise UnsupportedChain(
            "a Monero account is a key pair, not an extended key: use parse_monero_keys",
            chain_kind=kind.value,
        )
    if not isinstance(extended_key, str):
        raise InvalidExtendedKey("the extended key must be a string")
    text = extended_key.strip()
    payload = _decode(text)
    version = _accepted_version(kind, net, payload[:4])
    try:
        node = Bip32Secp256k1.FromExtendedKey(
            text, Bip32KeyNetVersions(version.public, version.private)
        )
    except (Bip32KeyError, ValueError):
        raise InvalidExtendedKey(
            "the key data is not a valid secp256k1 public key or has inconsistent metadata",
            prefix=version.prefix,
        ) from None
    return AccountKey(
        chain_kind=kind,
        network=net,
        version=version,
        address_type=slip132.address_type_for(kind, version),
        public_key=node.PublicKey().RawCompressed().ToBytes(),
        chain_code=node.ChainCode().ToBytes(),
        depth=node.Depth().ToInt(),
        parent_fingerprint=node.ParentFingerPrint().ToBytes(),
        child_index=node.Index().ToInt(),
    )


def _decode(text: str) -> bytes:
    """Base58check-decode, refusing every spend-capable shape on the way."""
    _refuse_secret_text(text)
    if not text or len(text) > _MAX_TEXT_LEN:
        raise InvalidExtendedKey("not an extended public key: wrong length")
    try:
        payload: bytes = Base58Decoder.CheckDecode(text)
    except (ValueError, Base58ChecksumError):
        raise InvalidExtendedKey(
            "not an extended public key: bad base58 or checksum (typo or truncated?)"
        ) from None
    _refuse_private_payload(payload)
    if len(payload) != _SERIALIZED_LEN:
        raise InvalidExtendedKey("not an extended public key: wrong length")
    return payload


def _refuse_secret_text(text: str) -> None:
    words = text.split()
    if len(words) in _MNEMONIC_WORD_COUNTS and all(word.isalpha() for word in words):
        raise PrivateKeyRefused(
            "this looks like a seed phrase; register the account's extended public key"
        )
    if _BARE_HEX_SECRET.fullmatch(text):
        raise PrivateKeyRefused(
            "a bare 32-byte hex string is how wallets export a private key; "
            "register the account's extended public key"
        )


def _refuse_private_payload(payload: bytes) -> None:
    known = slip132.find_by_private(payload[:4])
    if known is not None:
        raise PrivateKeyRefused(
            f"this is an extended private key ({known.private_prefix}); "
            "register the extended public key",
            prefix=known.private_prefix,
        )
    if len(payload) == _SERIALIZED_LEN and payload[_KEY_OFFSET] == 0:
        # BIP-32 serializes private key data as 0x00 || k; public keys start 02/03.
        raise PrivateKeyRefused("this is an extended private key; register the extended public key")
    if len(payload) in _WIF_LENGTHS:
        raise PrivateKeyRefused("this is a WIF private key; register the extended public key")


def _accepted_version(
    kind: ChainKind, network: Network, version_bytes: bytes
) -> slip132.KeyVersion:
    for version in slip132.accepted_versions(kind, network):
        if version.public == version_bytes:
            return version
    known = slip132.find_by_public(version_bytes)
    if known is not None and known in slip132.other_network_versions(kind, network):
        side = "mainnet" if known.mainnet else "test networks"
        raise NetworkMismatch(
            f"a {known.prefix} key is for {kind.value} {side}, not {network.value}",
            prefix=known.prefix,
            chain_kind=kind.value,
            network=network.value,
        )
    accepted = [version.prefix for version in slip132.accepted_versions(kind, network)]
    if known is not None:
        raise InvalidExtendedKey(
            f"a {known.prefix} key is not accepted for {kind.value} {network.value}",
            prefix=known.prefix,
            accepted=accepted,
        )
    raise InvalidExtendedKey(
        "unknown extended key version", version=version_bytes.hex(), accepted=accepted
    )
