"""The chains and networks we derive deposit addresses for, and their constants.

Address parameters (bech32 HRPs, base58 version bytes) come from bip-utils'
coin tables so that there is one source for them. Only the HRP is taken for
P2WPKH: bip-utils' encoder pins witness version 0 itself, and its
`CoinsConf.BitcoinRegTest` "p2wpkh_wit_ver" entry (1, a taproot value) is
therefore never read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bip_utils import CoinsConf, MoneroCoins
from bip_utils.monero.conf import MoneroConfGetter

from services.key_server.derivation.errors import UnsupportedChain


def _normalised(value: object) -> str | None:
    """Names arrive from configuration and HTTP bodies; case and padding are noise."""
    return value.strip().lower() if isinstance(value, str) else None


class ChainKind(StrEnum):
    """A family of chains sharing one address scheme.

    `evm` covers Ethereum and every EVM chain: an address is the same string on
    all of them, so the kind says how to derive, not which ledger to watch.
    `ChainKind("ethereum")` is accepted as an alias of `ChainKind.EVM`.
    """

    BITCOIN = "bitcoin"
    LITECOIN = "litecoin"
    DOGECOIN = "dogecoin"
    EVM = "evm"
    MONERO = "monero"

    @classmethod
    def _missing_(cls, value: object) -> ChainKind | None:
        name = _normalised(value)
        if name == "ethereum":
            return cls.EVM
        return next((member for member in cls if member.value == name), None)


class Network(StrEnum):
    MAINNET = "mainnet"
    TESTNET = "testnet"
    REGTEST = "regtest"
    STAGENET = "stagenet"

    @classmethod
    def _missing_(cls, value: object) -> Network | None:
        name = _normalised(value)
        return next((member for member in cls if member.value == name), None)

    @property
    def is_mainnet(self) -> bool:
        return self is Network.MAINNET


class AddressType(StrEnum):
    """What `derive_address` produces for a key; stored with an address so that
    the chain watcher knows what it is looking at."""

    P2WPKH = "p2wpkh"
    P2SH_P2WPKH = "p2sh-p2wpkh"
    P2PKH = "p2pkh"
    EVM = "evm"
    MONERO_SUBADDRESS = "monero-subaddress"


SUPPORTED_NETWORKS: dict[ChainKind, frozenset[Network]] = {
    ChainKind.BITCOIN: frozenset({Network.MAINNET, Network.TESTNET, Network.REGTEST}),
    ChainKind.LITECOIN: frozenset({Network.MAINNET, Network.TESTNET}),
    ChainKind.DOGECOIN: frozenset({Network.MAINNET, Network.TESTNET}),
    ChainKind.EVM: frozenset({Network.MAINNET, Network.TESTNET}),
    ChainKind.MONERO: frozenset({Network.MAINNET, Network.STAGENET, Network.TESTNET}),
}


def parse_chain(chain_kind: ChainKind | str, network: Network | str) -> tuple[ChainKind, Network]:
    """Both names checked and paired, so that no caller derives for, say, Dogecoin regtest."""
    try:
        kind = ChainKind(chain_kind)
    except ValueError:
        raise UnsupportedChain(
            f"unknown chain kind {chain_kind!r}", chain_kind=str(chain_kind)
        ) from None
    try:
        net = Network(network)
    except ValueError:
        raise UnsupportedChain(f"unknown network {network!r}", network=str(network)) from None
    if net not in SUPPORTED_NETWORKS[kind]:
        raise UnsupportedChain(
            f"{kind.value} has no {net.value} network here",
            chain_kind=kind.value,
            network=net.value,
        )
    return kind, net


@dataclass(frozen=True, slots=True)
class SegwitParams:
    """Native (bech32) and nested (P2SH) segwit parameters of one network."""

    hrp: str
    p2sh_version: bytes


_SEGWIT_PARAMS: dict[tuple[ChainKind, Network], SegwitParams] = {
    (ChainKind.BITCOIN, Network.MAINNET): SegwitParams(
        CoinsConf.BitcoinMainNet.ParamByKey("p2wpkh_hrp"),
        CoinsConf.BitcoinMainNet.ParamByKey("p2sh_net_ver"),
    ),
    (ChainKind.BITCOIN, Network.TESTNET): SegwitParams(
        CoinsConf.BitcoinTestNet.ParamByKey("p2wpkh_hrp"),
        CoinsConf.BitcoinTestNet.ParamByKey("p2sh_net_ver"),
    ),
    (ChainKind.BITCOIN, Network.REGTEST): SegwitParams(
        CoinsConf.BitcoinRegTest.ParamByKey("p2wpkh_hrp"),
        CoinsConf.BitcoinRegTest.ParamByKey("p2sh_net_ver"),
    ),
    # Litecoin's current P2SH version (M... / Q... addresses), not the deprecated
    # Bitcoin-compatible one (3... / 2...) that Litecoin Core no longer emits.
    (ChainKind.LITECOIN, Network.MAINNET): SegwitParams(
        CoinsConf.LitecoinMainNet.ParamByKey("p2wpkh_hrp"),
        CoinsConf.LitecoinMainNet.ParamByKey("p2sh_std_net_ver"),
    ),
    (ChainKind.LITECOIN, Network.TESTNET): SegwitParams(
        CoinsConf.LitecoinTestNet.ParamByKey("p2wpkh_hrp"),
        CoinsConf.LitecoinTestNet.ParamByKey("p2sh_std_net_ver"),
    ),
}

_P2PKH_VERSIONS: dict[tuple[ChainKind, Network], bytes] = {
    (ChainKind.DOGECOIN, Network.MAINNET): CoinsConf.DogecoinMainNet.ParamByKey("p2pkh_net_ver"),
    (ChainKind.DOGECOIN, Network.TESTNET): CoinsConf.DogecoinTestNet.ParamByKey("p2pkh_net_ver"),
}

_MONERO_COINS: dict[Network, MoneroCoins] = {
    Network.MAINNET: MoneroCoins.MONERO_MAINNET,
    Network.STAGENET: MoneroCoins.MONERO_STAGENET,
    Network.TESTNET: MoneroCoins.MONERO_TESTNET,
}


def segwit_params(kind: ChainKind, network: Network) -> SegwitParams:
    return _SEGWIT_PARAMS[(kind, network)]


def p2pkh_version(kind: ChainKind, network: Network) -> bytes:
    version: bytes = _P2PKH_VERSIONS[(kind, network)]
    return version


def monero_primary_version(network: Network) -> bytes:
    version: bytes = MoneroConfGetter.GetConfig(_MONERO_COINS[network]).AddrNetVersion()
    return version


def monero_subaddress_version(network: Network) -> bytes:
    version: bytes = MoneroConfGetter.GetConfig(_MONERO_COINS[network]).SubaddrNetVersion()
    return version
