"""Extended-key version bytes (BIP-32, SLIP-132) and which chain accepts which.

The four version bytes at the front of a serialized extended key are all that
says "mainnet or testnet" and, for the SLIP-132 prefixes, which script the
wallet derives. We use them for three decisions:

* private or public: a private version (xprv, zprv, ...) is refused outright;
* network: a key whose version belongs to the chain's other network class is a
  `network_mismatch`, not merely "invalid", so the operator knows what to fix;
* address type: ypub/upub/Mtub wallets derive P2SH-wrapped segwit addresses and
  zpub/vpub wallets native segwit. Deriving bech32 from a ypub would hand out
  addresses its owner's wallet never scans, so the prefix's script wins. A
  prefix that states no script (xpub, tpub, Ltub, ttub, dgub, tgub) gets the
  chain's default: bech32 P2WPKH for Bitcoin and Litecoin (wallets such as
  Bitcoin Core and Sparrow export BIP-84 accounts as plain xpub), P2PKH for
  Dogecoin, the Keccak address for EVM chains.

The hex values are the SLIP-132 registry's; tests check each one serializes to
a string starting with its prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.key_server.derivation.chains import AddressType, ChainKind, Network


@dataclass(frozen=True, slots=True)
class KeyVersion:
    prefix: str
    private_prefix: str
    public: bytes
    private: bytes
    mainnet: bool
    address_type: AddressType | None


def _version(
    prefix: str,
    private_prefix: str,
    public_hex: str,
    private_hex: str,
    *,
    mainnet: bool,
    address_type: AddressType | None = None,
) -> KeyVersion:
    return KeyVersion(
        prefix=prefix,
        private_prefix=private_prefix,
        public=bytes.fromhex(public_hex),
        private=bytes.fromhex(private_hex),
        mainnet=mainnet,
        address_type=address_type,
    )


_NESTED = AddressType.P2SH_P2WPKH
_NATIVE = AddressType.P2WPKH

XPUB = _version("xpub", "xprv", "0488b21e", "0488ade4", mainnet=True)
YPUB = _version("ypub", "yprv", "049d7cb2", "049d7878", mainnet=True, address_type=_NESTED)
ZPUB = _version("zpub", "zprv", "04b24746", "04b2430c", mainnet=True, address_type=_NATIVE)
TPUB = _version("tpub", "tprv", "043587cf", "04358394", mainnet=False)
UPUB = _version("upub", "uprv", "044a5262", "044a4e28", mainnet=False, address_type=_NESTED)
VPUB = _version("vpub", "vprv", "045f1cf6", "045f18bc", mainnet=False, address_type=_NATIVE)
LTUB = _version("Ltub", "Ltpv", "019da462", "019d9cfe", mainnet=True)
MTUB = _version("Mtub", "Mtpv", "01b26ef6", "01b26792", mainnet=True, address_type=_NESTED)
TTUB = _version("ttub", "ttpv", "0436f6e1", "0436ef7d", mainnet=False)
DGUB = _version("dgub", "dgpv", "02facafd", "02fac398", mainnet=True)
TGUB = _version("tgub", "tgpv", "0432a9a8", "0432a243", mainnet=False)

# Multisig (P2WSH) account keys: never accepted (a deposit address there needs
# every cosigner's key), but named so that the refusal can say what was given.
_MULTISIG = (
    _version("Ypub", "Yprv", "0295b43f", "0295b005", mainnet=True),
    _version("Zpub", "Zprv", "02aa7ed3", "02aa7a99", mainnet=True),
    _version("Upub", "Uprv", "024289ef", "024285b5", mainnet=False),
    _version("Vpub", "Vprv", "02575483", "02575048", mainnet=False),
)

ALL_VERSIONS: tuple[KeyVersion, ...] = (
    XPUB, YPUB, ZPUB, TPUB, UPUB, VPUB, LTUB, MTUB, TTUB, DGUB, TGUB, *_MULTISIG,
)  # fmt: skip

# (chain kind, is mainnet) -> versions a public account key may carry.
# EVM wallets serialize testnet accounts with xpub as often as with tpub, and
# an EVM address is the same on every network, so an EVM testnet takes both;
# a tpub offered for EVM mainnet is still a mismatch.
_ACCEPTED: dict[tuple[ChainKind, bool], tuple[KeyVersion, ...]] = {
    (ChainKind.BITCOIN, True): (XPUB, YPUB, ZPUB),
    (ChainKind.BITCOIN, False): (TPUB, UPUB, VPUB),
    (ChainKind.LITECOIN, True): (XPUB, YPUB, ZPUB, LTUB, MTUB),
    (ChainKind.LITECOIN, False): (TPUB, UPUB, VPUB, TTUB),
    (ChainKind.DOGECOIN, True): (XPUB, DGUB),
    (ChainKind.DOGECOIN, False): (TPUB, TGUB),
    (ChainKind.EVM, True): (XPUB,),
    (ChainKind.EVM, False): (XPUB, TPUB),
}

_DEFAULT_ADDRESS_TYPE: dict[ChainKind, AddressType] = {
    ChainKind.BITCOIN: AddressType.P2WPKH,
    ChainKind.LITECOIN: AddressType.P2WPKH,
    ChainKind.DOGECOIN: AddressType.P2PKH,
    ChainKind.EVM: AddressType.EVM,
}


def accepted_versions(kind: ChainKind, network: Network) -> tuple[KeyVersion, ...]:
    return _ACCEPTED.get((kind, network.is_mainnet), ())


def other_network_versions(kind: ChainKind, network: Network) -> tuple[KeyVersion, ...]:
    """Versions that would be right for this chain on the other side of the
    mainnet/test divide, minus any this network accepts too."""
    mine = accepted_versions(kind, network)
    theirs = _ACCEPTED.get((kind, not network.is_mainnet), ())
    return tuple(version for version in theirs if version not in mine)


def find_by_public(version_bytes: bytes) -> KeyVersion | None:
    return next((v for v in ALL_VERSIONS if v.public == version_bytes), None)


def find_by_private(version_bytes: bytes) -> KeyVersion | None:
    return next((v for v in ALL_VERSIONS if v.private == version_bytes), None)


def address_type_for(kind: ChainKind, version: KeyVersion) -> AddressType:
    return version.address_type or _DEFAULT_ADDRESS_TYPE[kind]
