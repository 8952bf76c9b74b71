# ruff: noqa: E501 -- published vectors stay verbatim, one per line, so they can be searched for.
"""Deposit addresses against published vectors, and the index rules.

Sources (quoted strings below are copied from them):
- BIP-84 test vectors: https://github.com/bitcoin/bips/blob/master/bip-0084.mediawiki
- BIP-49 test vectors (testnet): https://github.com/bitcoin/bips/blob/master/bip-0049.mediawiki
- bip-utils test suite (mnemonic "abandon ... about"), ebellocchia/bip_utils:
  tests/bip/bip84/test_bip84.py (Bitcoin testnet/regtest, Litecoin, Litecoin testnet),
  tests/bip/bip49/test_bip49.py (Bitcoin ypub, Litecoin ypub/Mtub),
  tests/bip/bip44/test_bip44.py (Ethereum, Dogecoin, Dogecoin testnet, Bitcoin testnet tpub).
"""

import pytest
from bip_utils import Bip39SeedGenerator, Bip44Changes, Bip84, Bip84Coins
from hypothesis import given, settings
from hypothesis import strategies as st

from services.key_server.derivation import (
    MAX_INDEX,
    ChainKind,
    ChainSpec,
    InvalidIndex,
    Network,
    checksum_evm_address,
    derive_address,
    parse_account_key,
)

MNEMONIC = " ".join(["abandon"] * 11 + ["about"])

BIP84_ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
BIP84_VPUB = "vpub5Y6cjg78GGuNLsaPhmYsiw4gYX3HoQiRBiSwDaBXKUafCt9bNwWQiitDk5VZ5BVxYnQdwoTyXSs2JHRPAgjAvtbBrf8ZhDYe2jWAqvZVnsc"
BTC_YPUB = "ypub6Ww3ibxVfGzLrAH1PNcjyAWenMTbbAosGNB6VvmSEgytSER9azLDWCxoJwW7Ke7icmizBMXrzBx9979FfaHxHcrArf3zbeJJJUZPf663zsP"
BIP49_UPUB = "upub5EFU65HtV5TeiSHmZZm7FUffBGy8UKeqp7vw43jYbvZPpoVsgU93oac7Wk3u6moKegAEWtGNF8DehrnHtv21XXEMYRUocHqguyjknFHYfgY"
LTC_ZPUB = "zpub6rPo5mF47z5coVm5rvWv7fv181awb7Vckn5Cf3xQXBVKu18kuBHDhNi1Jrb4br6vVD3ZbrnXemEsWJoR18mZwkUdzwD8TQnHDUCGxqZ6swA"
LTC_TESTNET_TTUB = "ttub4d81p5cxvtYKpLR1rpAWdWgdTEdcpRUTEjhEAwi4jFysnyYYYU6w3pRyV6gPAKZbaHoVQdDSdDJrEngpFdPnoTQM8PBSDhD552ZSfeKDEKA"
LTC_MTUB = "Mtub2rz9F1pkisRsSZX8sa4Ajon9GhPP6JymLgpuHqbYdU5JKFLBF7Qy8b1tZ3dccj2fefrAxfrPdVkpCxuWn3g72UctH2bvJRkp6iFmp8aLeRZ"
LTC_YPUB = "ypub6WZ2nNciqS7sCCFCH64AswfvBu4pLXTdDQcvTkrSFyEbashNb6vEJwXTCB7axKdR4TSbNYTqnU7S6sYPs9afBYqTytiTdjzmcDVRuYcrtso"
DOGE_DGUB = "dgub8rUhDtD3YFGZTUphBfpBbzvFxSMKQXYLzg87Me2ta78r2SdVLmypBUkkxrrn9RTnchsyiJSkHZyLWxD13ibBiXtuFWktBoDaGaZjQUBLNLs"
DOGE_TESTNET_TGUB = "tgub5QziLPy2KFnZgdWALMfCBZcPpFQxtmu3sMDKvDdt1L7WAiAWXpAqf1S9FzNEEa7ipDM6kEy4o9mrVGshjxMKMoq383HELMHguMNGgRryJwt"
BTC_TESTNET_TPUB = "tpubDC5FSnBiZDMmhiuCmWAYsLwgLYrrT9rAqvTySfuCCrgsWz8wxMXUS9Tb9iVMvcRbvFcAHGkMD5Kx8koh4GquNGNTfohfk7pgjhaPCdXpoba"
ETH_XPUB = "xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt"

VECTORS = [
    # BIP-84: "first receiving address" and "second receiving address".
    ("bitcoin", "mainnet", BIP84_ZPUB, 0, "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"),
    ("bitcoin", "mainnet", BIP84_ZPUB, 1, "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"),
    # bip-utils test_bip84.py (further mainnet addresses of the same account).
    ("bitcoin", "mainnet", BIP84_ZPUB, 4, "bc1qm97vqzgj934vnaq9s53ynkyf9dgr05rargr04n"),
    # bip-utils test_bip84.py, Bitcoin test net and regtest account 0.
    ("bitcoin", "testnet", BIP84_VPUB, 0, "tb1q6rz28mcfaxtmd6v789l9rrlrusdprr9pqcpvkl"),
    ("bitcoin", "testnet", BIP84_VPUB, 1, "tb1qd7spv5q28348xl4myc8zmh983w5jx32cjhkn97"),
    ("bitcoin", "regtest", BIP84_VPUB, 0, "bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk"),
    ("bitcoin", "regtest", BIP84_VPUB, 1, "bcrt1qd7spv5q28348xl4myc8zmh983w5jx32cs707jh"),
    # bip-utils test_bip49.py, Bitcoin nested segwit; BIP-49's testnet vector.
    ("bitcoin", "mainnet", BTC_YPUB, 0, "37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf"),
    ("bitcoin", "mainnet", BTC_YPUB, 1, "3LtMnn87fqUeHBUG414p9CWwnoV6E2pNKS"),
    ("bitcoin", "testnet", BIP49_UPUB, 0, "2Mww8dCYPUpKHofjgcXcBCEGmniw9CoaiD2"),
    # bip-utils test_bip84.py, Litecoin and Litecoin test net.
    ("litecoin", "mainnet", LTC_ZPUB, 0, "ltc1qjmxnz78nmc8nq77wuxh25n2es7rzm5c2rkk4wh"),
    ("litecoin", "mainnet", LTC_ZPUB, 1, "ltc1qwlezpr3890hcp6vva9twqh27mr6edadreqvhnn"),
    ("litecoin", "testnet", LTC_TESTNET_TTUB, 0, "tltc1q6rz28mcfaxtmd6v789l9rrlrusdprr9pesrjxk"),
    ("litecoin", "testnet", LTC_TESTNET_TTUB, 1, "tltc1qd7spv5q28348xl4myc8zmh983w5jx32ctl5d4h"),
    # bip-utils test_bip49.py, Litecoin nested segwit (M... addresses), as Mtub and as ypub.
    ("litecoin", "mainnet", LTC_MTUB, 0, "M7wtsL7wSHDBJVMWWhtQfTMSYYkyooAAXM"),
    ("litecoin", "mainnet", LTC_MTUB, 1, "M92zAbFXY2J7NJXdFpJTe3a5PrsyZQhKZK"),
    ("litecoin", "mainnet", LTC_YPUB, 0, "M7wtsL7wSHDBJVMWWhtQfTMSYYkyooAAXM"),
    # bip-utils test_bip44.py, Dogecoin and Dogecoin test net (tgub and tpub of one account).
    ("dogecoin", "mainnet", DOGE_DGUB, 0, "DBus3bamQjgJULBJtYXpEzDWQRwF5iwxgC"),
    ("dogecoin", "mainnet", DOGE_DGUB, 1, "DAcDAtJRztxBHyA6D6h8du1HguyTR43Mas"),
    ("dogecoin", "testnet", DOGE_TESTNET_TGUB, 0, "nZVmfmUtKPmskB9Ds4P9GUJy9eYFqPKHqH"),
    ("dogecoin", "testnet", DOGE_TESTNET_TGUB, 1, "noVoUoC3q7wgmb25McqSdLCHhUAhSREkT9"),
    ("dogecoin", "testnet", BTC_TESTNET_TPUB, 0, "nZVmfmUtKPmskB9Ds4P9GUJy9eYFqPKHqH"),
    # bip-utils test_bip44.py, Ethereum m/44'/60'/0'/0/i (also MetaMask's first
    # account for this mnemonic); the address is the same on an EVM testnet.
    ("ethereum", "mainnet", ETH_XPUB, 0, "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"),
    ("ethereum", "mainnet", ETH_XPUB, 1, "0x6Fac4D18c912343BF86fa7049364Dd4E424Ab9C0"),
    ("evm", "testnet", ETH_XPUB, 0, "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"),
]


def _chain(kind: str, network: str, extended_key: str) -> ChainSpec:
    return ChainSpec.for_key(parse_account_key(kind, network, extended_key))


@pytest.mark.parametrize(("kind", "network", "extended_key", "index", "address"), VECTORS)
def test_derived_address_matches_published_vector(kind, network, extended_key, index, address):
    assert derive_address(_chain(kind, network, extended_key), index) == address


def test_derives_the_receive_chain_never_change():
    # BIP-84: "first change address" of account 0.
    bip84_first_change = "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"
    chain = _chain("bitcoin", "mainnet", BIP84_ZPUB)
    assert bip84_first_change not in {derive_address(chain, index) for index in range(5)}


def test_evm_addresses_come_out_eip55_checksummed():
    address = derive_address(_chain("evm", "mainnet", ETH_XPUB), 7)
    assert checksum_evm_address(address.lower()) == address


_SEED = Bip39SeedGenerator(MNEMONIC).Generate()
_BIP84_ACCOUNT = Bip84.FromSeed(_SEED, Bip84Coins.BITCOIN).Purpose().Coin().Account(0)
_BIP84_RECEIVE = _BIP84_ACCOUNT.Change(Bip44Changes.CHAIN_EXT)


@settings(max_examples=25, deadline=None)
@given(index=st.integers(min_value=0, max_value=MAX_INDEX))
def test_public_derivation_agrees_with_private_derivation_from_the_seed(index):
    expected = _BIP84_RECEIVE.AddressIndex(index).PublicKey().ToAddress()
    assert derive_address(_chain("bitcoin", "mainnet", BIP84_ZPUB), index) == expected


def test_same_key_and_index_always_give_the_same_address():
    first = derive_address(_chain("bitcoin", "mainnet", BIP84_ZPUB), 12345)
    again = derive_address(_chain("bitcoin", "mainnet", f" {BIP84_ZPUB} "), 12345)
    assert first == again


def test_highest_non_hardened_index_is_allowed():
    address = derive_address(_chain("bitcoin", "mainnet", BIP84_ZPUB), MAX_INDEX)
    assert address.startswith("bc1q")


@pytest.mark.parametrize("index", [-1, 2**31, 2**32, True, 1.0, "1", None])
def test_indexes_outside_the_non_hardened_range_are_refused(index):
    with pytest.raises(InvalidIndex) as refused:
        derive_address(_chain("bitcoin", "mainnet", BIP84_ZPUB), index)
    assert refused.value.code == "invalid_index"


def test_allocation_starts_at_zero_outside_monero():
    assert _chain("bitcoin", "mainnet", BIP84_ZPUB).first_index == 0
    assert _chain("evm", "mainnet", ETH_XPUB).first_index == 0


def test_chain_spec_takes_names_as_stored_in_a_database_row():
    key = parse_account_key("bitcoin", "testnet", BTC_TESTNET_TPUB)
    chain = ChainSpec(kind="bitcoin", network="testnet", key=key)  # type: ignore[arg-type]
    assert chain == ChainSpec.for_key(key)
    assert chain.kind is ChainKind.BITCOIN
    assert chain.network is Network.TESTNET


def test_chain_spec_refuses_a_key_parsed_for_another_chain_or_network():
    bitcoin_key = parse_account_key("bitcoin", "testnet", BTC_TESTNET_TPUB)
    with pytest.raises(ValueError, match="spec is"):
        ChainSpec(kind=bitcoin_key.chain_kind, network="regtest", key=bitcoin_key)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="spec is"):
        ChainSpec(kind="dogecoin", network=bitcoin_key.network, key=bitcoin_key)  # type: ignore[arg-type]
