"""Deposit addresses: one chain's key material plus an index gives one address.

`derive_address(chain, index)` is a pure function: the same `ChainSpec` and
index give the same address on every replica, forever. That is what lets the
key server allocate an index in a transaction and derive the address
anywhere, and what a test pins with published vectors.

Paths: for extended keys the address is the account key's external-chain
child at relative path 0/index (BIP-44/49/84 receive addresses; change, 1/*,
is never handed out). For Monero it is subaddress (0, index).
"""

from __future__ import annotations

from dataclasses import dataclass

from bip_utils import (
    EthAddrEncoder,
    P2PKHAddrEncoder,
    P2SHAddrEncoder,
    P2WPKHAddrEncoder,
)

from services.key_server.derivation.account_keys import AccountKey, check_index
from services.key_server.derivation.chains import (
    AddressType,
    ChainKind,
    Network,
    p2pkh_version,
    parse_chain,
    segwit_params,
)
from services.key_server.derivation.errors import InvalidIndex
from services.key_server.derivation.monero import MoneroAccountKey

EXTERNAL_CHAIN = 0
"""BIP-44 `change` level for receive addresses."""


@dataclass(frozen=True, slots=True)
class ChainSpec:
    """Everything `derive_address` needs for one registered chain.

    Built from a parsed key; construction refuses a key parsed for another
    chain or network, so a spec can only be self-consistent.
    """

    kind: ChainKind
    network: Network
    key: AccountKey | MoneroAccountKey

    def __post_init__(self) -> None:
        # Rows from a database arrive as plain strings; store the enum members.
        kind, network = parse_chain(self.kind, self.network)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "network", network)
        if self.key.chain_kind is not kind or self.key.network is not network:
            raise ValueError(
                f"key parsed for {self.key.chain_kind.value} {self.key.network.value}, "
                f"spec is {kind.value} {network.value}"
            )

    @classmethod
    def for_key(cls, key: AccountKey | MoneroAccountKey) -> ChainSpec:
        return cls(kind=key.chain_kind, network=key.network, key=key)

    @property
    def address_type(self) -> AddressType:
        return self.key.address_type

    @property
    def fingerprint(self) -> str:
        return self.key.fingerprint

    @property
    def first_index(self) -> int:
        """Where deposit allocation starts: 1 on Monero (0 is the primary address)."""
        return 1 if self.kind is ChainKind.MONERO else 0


def derive_address(chain: ChainSpec, index: int) -> str:
    """The receive address at `index`, 0 <= index < 2**31.

    Raises `InvalidIndex` outside that range, and for index 0 on Monero (see
    `ChainSpec.first_index`).
    """
    check_index(index)
    if isinstance(chain.key, MoneroAccountKey):
        if index < chain.first_index:
            raise InvalidIndex(
                "Monero subaddress (0, 0) is the wallet's primary address, which cannot "
                "identify a deposit; allocate from index 1",
                index=index,
            )
        return chain.key.subaddress(index)
    receive_key = chain.key.child(EXTERNAL_CHAIN).child(index)
    return _encode(chain.kind, chain.network, chain.key.address_type, receive_key.public_key)


def _encode(kind: ChainKind, network: Network, address_type: AddressType, public_key: bytes) -> str:
    address: str
    if address_type is AddressType.P2WPKH:
        address = P2WPKHAddrEncoder.EncodeKey(public_key, hrp=segwit_params(kind, network).hrp)
    elif address_type is AddressType.P2SH_P2WPKH:
        address = P2SHAddrEncoder.EncodeKey(
            public_key, net_ver=segwit_params(kind, network).p2sh_version
        )
    elif address_type is AddressType.P2PKH:
        address = P2PKHAddrEncoder.EncodeKey(public_key, net_ver=p2pkh_version(kind, network))
    elif address_type is AddressType.EVM:
        address = EthAddrEncoder.EncodeKey(public_key)
    else:
        raise AssertionError(f"no encoder for {address_type}")
    return address
