# ruff: noqa: E501 -- published vectors stay verbatim, one per line, so they can be searched for.
"""Parsing account keys: published vectors, identity, and every refusal.

Sources of the vectors (quoted strings below are copied from them):
- BIP-32 test vector 1: https://github.com/bitcoin/bips/blob/master/bip-0032.mediawiki
- BIP-84 test vectors ("abandon ... about", account 0):
  https://github.com/bitcoin/bips/blob/master/bip-0084.mediawiki
- bip-utils test suite, ebellocchia/bip_utils tests/bip/bip44/test_bip44.py,
  tests/bip/bip49/test_bip49.py, tests/bip/bip84/test_bip84.py (same mnemonic).
"""

import pytest
from bip_utils import (
    Base58Decoder,
    Base58Encoder,
    Bip32Secp256k1,
    Bip39SeedGenerator,
    Bip44,
    Bip44Coins,
    Bip44Conf,
    Bip49Conf,
    Bip84,
    Bip84Coins,
    Bip84Conf,
)

from services.key_server.derivation import (
    AddressType,
    ChainKind,
    DerivationError,
    InvalidExtendedKey,
    Network,
    NetworkMismatch,
    PrivateKeyRefused,
    UnsupportedChain,
    parse_account_key,
    slip132,
)

MNEMONIC = " ".join(["abandon"] * 11 + ["about"])

# BIP-84, account 0 (m/84'/0'/0').
BIP84_ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
BIP84_ZPRV = "zprvAdG4iTXWBoARxkkzNpNh8r6Qag3irQB8PzEMkAFeTRXxHpbF9z4QgEvBRmfvqWvGp42t42nvgGpNgYSJA9iefm1yYNZKEm7z6qUWCroSQnE"
# bip-utils test_bip84.py, Bitcoin test net account 0 (m/84'/1'/0').
BIP84_VPUB = "vpub5Y6cjg78GGuNLsaPhmYsiw4gYX3HoQiRBiSwDaBXKUafCt9bNwWQiitDk5VZ5BVxYnQdwoTyXSs2JHRPAgjAvtbBrf8ZhDYe2jWAqvZVnsc"
BIP84_VPRV = "vprv9K7GLAaERuM58PVvbk1sMo7wzVCoPwzZpVXLRBmum93gL5pSqQCAAvZjtmz93nnnYMr9i2FwG2fqrwYLRgJmDDwFjGiamGsbRMJ5Y6siJ8H"
# BIP-32 test vector 1, seed 000102030405060708090a0b0c0d0e0f.
BIP32_TV1_SEED = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
BIP32_TV1_M0H_XPUB = "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw"
BIP32_TV1_M0H_XPRV = "xprv9uHRZZhk6KAJC1avXpDAp4MDc3sQKNxDiPvvkX8Br5ngLNv1TxvUxt4cV1rGL5hj6KCesnDYUhd7oWgT11eZG7XnxHrnYeSvkzY7d2bhkJ7"
BIP32_TV1_M0H_1_XPUB = "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ"
# bip-utils test_bip44.py: Ethereum account (m/44'/60'/0'), Dogecoin accounts,
# Bitcoin test net account (m/44'/1'/0'), Litecoin account as Ltub/Ltpv.
ETH_XPUB = "xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt"
DOGE_DGUB = "dgub8rUhDtD3YFGZTUphBfpBbzvFxSMKQXYLzg87Me2ta78r2SdVLmypBUkkxrrn9RTnchsyiJSkHZyLWxD13ibBiXtuFWktBoDaGaZjQUBLNLs"
DOGE_DGPV = "dgpv57bftCH9z6cEAdAY9SCDV9NfVsygaQWdi5LuCXdumz5qUPWnw1S3YBM7PdHXMvA8oSGS6Pbes1xEHMd5Zi2qHVK45y5FKKXzBXsZcTtYmX5"
DOGE_TESTNET_TGUB = "tgub5QziLPy2KFnZgdWALMfCBZcPpFQxtmu3sMDKvDdt1L7WAiAWXpAqf1S9FzNEEa7ipDM6kEy4o9mrVGshjxMKMoq383HELMHguMNGgRryJwt"
BTC_TESTNET_TPUB = "tpubDC5FSnBiZDMmhiuCmWAYsLwgLYrrT9rAqvTySfuCCrgsWz8wxMXUS9Tb9iVMvcRbvFcAHGkMD5Kx8koh4GquNGNTfohfk7pgjhaPCdXpoba"
BTC_TESTNET_TPRV = "tprv8fPDJN9UQqg6pFsQsrVxTwHZmXLvHpfGGcsCA9rtnatUgVtBKxhtFeqiyaYKSWydunKpjhvgJf6PwTwgirwuCbFq8YKgpQiaVJf3JCrNmkR"
LTC_LTUB = "Ltub2YDQmP391UYeDYvLye9P1SuNJFkcRGN7SYHM8JMxaDnegcPTXHJ2BnYmvHnFnGPGKu2WMuCga6iZV3SDxDMGrRyMcrYEfSPhrpS1EPkC43E"
LTC_LTPV = "Ltpv7735AbcbmL1gbgDWj2ezvs59rh4RM1oTN2BKTKbfe3146FCPCNFbBBSWfuV9vCJNMXD9LuHpQnqVWpn2hbMhikqPdoGqbS3ptdPoNWEvvgR"
LTC_XPUB_SAME_ACCOUNT = "xpub6BnJJjq783EdyBeQPA9P9ao9DTS3fUqyKG5NJDcrCiwwxEkesGoHN94LZRGE7rz1jgcvmmp8j55BNx573KFq1WBwKiemzkdfNKffKx6Mvku"
# bip-utils test_bip49.py: Litecoin account m/49'/2'/0' as ypub and as Mtub.
LTC_YPUB = "ypub6WZ2nNciqS7sCCFCH64AswfvBu4pLXTdDQcvTkrSFyEbashNb6vEJwXTCB7axKdR4TSbNYTqnU7S6sYPs9afBYqTytiTdjzmcDVRuYcrtso"
LTC_MTUB = "Mtub2rz9F1pkisRsSZX8sa4Ajon9GhPP6JymLgpuHqbYdU5JKFLBF7Qy8b1tZ3dccj2fefrAxfrPdVkpCxuWn3g72UctH2bvJRkp6iFmp8aLeRZ"
# bip-utils test_bip44.py "wif_master" values for the same mnemonic.
WIF_UNCOMPRESSED = "5HzxC8XHHAtoC5jVvScY8Tr99Ud9MwFdF2pJKYsMTUknJZEurYr"
WIF_TESTNET = "91mamsLpsPxwA9EnYnWT14Q6o8yrX6npaygFQBDroDVq5dZG3q3"


def _reversion(extended_key: str, version: bytes) -> str:
    """The same 74 bytes of key data under other version bytes."""
    payload = Base58Decoder.CheckDecode(extended_key)
    return Base58Encoder.CheckEncode(version + payload[4:])


def _assert_secret_not_echoed(error: DerivationError, secret: str) -> None:
    assert secret not in str(error)
    assert secret not in repr(error.details)


def test_bip84_account_key_is_the_published_one_for_the_mnemonic():
    seed = Bip39SeedGenerator(MNEMONIC).Generate()
    account = Bip84.FromSeed(seed, Bip84Coins.BITCOIN).Purpose().Coin().Account(0)
    assert account.PublicKey().ToExtended() == BIP84_ZPUB

    key = parse_account_key("bitcoin", "mainnet", BIP84_ZPUB)

    assert key.chain_kind is ChainKind.BITCOIN
    assert key.network is Network.MAINNET
    assert key.prefix == "zpub"
    assert key.address_type is AddressType.P2WPKH
    assert key.depth == 3
    assert key.child_index == 0x8000_0000  # account 0'
    assert key.extended_key == BIP84_ZPUB


def test_testnet_vpub_derived_from_the_mnemonic_is_bip_utils_published_one():
    seed = Bip39SeedGenerator(MNEMONIC).Generate()
    account = Bip84.FromSeed(seed, Bip84Coins.BITCOIN_TESTNET).Purpose().Coin().Account(0)
    assert account.PublicKey().ToExtended() == BIP84_VPUB

    for network in ("testnet", "regtest"):
        key = parse_account_key("bitcoin", network, BIP84_VPUB)
        assert key.prefix == "vpub"
        assert key.address_type is AddressType.P2WPKH


def test_bip32_vector_1_public_child_of_m_0h_is_published_m_0h_1():
    m_0h = Bip32Secp256k1.FromSeed(BIP32_TV1_SEED).DerivePath("m/0'")
    assert m_0h.PublicKey().ToExtended() == BIP32_TV1_M0H_XPUB

    parent = parse_account_key("bitcoin", "mainnet", BIP32_TV1_M0H_XPUB)
    child = parent.child(1)

    assert child.extended_key == BIP32_TV1_M0H_1_XPUB
    assert child.depth == 2
    assert child.child_index == 1
    assert child.parent_fingerprint.hex() == parent.bip32_fingerprint


def test_fingerprint_is_the_same_whatever_the_serialization_prefix():
    as_zpub = parse_account_key("bitcoin", "mainnet", BIP84_ZPUB)
    as_xpub = parse_account_key("bitcoin", "mainnet", _reversion(BIP84_ZPUB, slip132.XPUB.public))
    assert as_xpub.prefix == "xpub"
    assert as_xpub.fingerprint == as_zpub.fingerprint

    ltub = parse_account_key("litecoin", "mainnet", LTC_LTUB)
    xpub = parse_account_key("litecoin", "mainnet", LTC_XPUB_SAME_ACCOUNT)
    assert ltub.fingerprint == xpub.fingerprint

    mtub = parse_account_key("litecoin", "mainnet", LTC_MTUB)
    ypub = parse_account_key("litecoin", "mainnet", LTC_YPUB)
    assert mtub.fingerprint == ypub.fingerprint


def test_fingerprint_detects_one_key_registered_on_two_chains():
    on_dogecoin_testnet = parse_account_key("dogecoin", "testnet", DOGE_TESTNET_TGUB)
    on_bitcoin_testnet = parse_account_key("bitcoin", "testnet", BTC_TESTNET_TPUB)
    on_evm_testnet = parse_account_key("evm", "testnet", BTC_TESTNET_TPUB)

    assert on_dogecoin_testnet.fingerprint == on_bitcoin_testnet.fingerprint
    assert on_evm_testnet.fingerprint == on_bitcoin_testnet.fingerprint


def test_different_accounts_have_different_fingerprints():
    fingerprints = {
        parse_account_key("bitcoin", "mainnet", BIP84_ZPUB).fingerprint,
        parse_account_key("evm", "mainnet", ETH_XPUB).fingerprint,
        parse_account_key("dogecoin", "mainnet", DOGE_DGUB).fingerprint,
        parse_account_key("litecoin", "mainnet", LTC_LTUB).fingerprint,
    }
    assert len(fingerprints) == 4
    assert all(len(fingerprint) == 64 for fingerprint in fingerprints)


def test_prefix_states_the_address_type_and_plain_prefixes_get_the_chain_default():
    cases = [
        ("bitcoin", "mainnet", BIP84_ZPUB, AddressType.P2WPKH),
        ("litecoin", "mainnet", LTC_MTUB, AddressType.P2SH_P2WPKH),
        ("litecoin", "mainnet", LTC_YPUB, AddressType.P2SH_P2WPKH),
        ("litecoin", "mainnet", LTC_LTUB, AddressType.P2WPKH),
        ("dogecoin", "mainnet", DOGE_DGUB, AddressType.P2PKH),
        ("dogecoin", "testnet", BTC_TESTNET_TPUB, AddressType.P2PKH),
        ("evm", "mainnet", ETH_XPUB, AddressType.EVM),
    ]
    for kind, network, extended_key, address_type in cases:
        assert parse_account_key(kind, network, extended_key).address_type is address_type


def test_chain_and_network_names_are_forgiving_about_case_and_the_ethereum_alias():
    key = parse_account_key(" Ethereum ", "MAINNET", f"  {ETH_XPUB}\n")
    assert key.chain_kind is ChainKind.EVM
    assert ChainKind("ethereum") is ChainKind.EVM


def test_evm_testnet_accepts_xpub_and_tpub():
    assert parse_account_key("evm", "testnet", ETH_XPUB).prefix == "xpub"
    assert parse_account_key("evm", "testnet", BTC_TESTNET_TPUB).prefix == "tpub"


@pytest.mark.parametrize(
    ("kind", "network", "secret"),
    [
        ("bitcoin", "mainnet", BIP84_ZPRV),
        ("bitcoin", "mainnet", BIP32_TV1_M0H_XPRV),
        ("bitcoin", "testnet", BIP84_VPRV),
        ("bitcoin", "testnet", BTC_TESTNET_TPRV),
        ("dogecoin", "mainnet", DOGE_DGPV),
        ("litecoin", "mainnet", LTC_LTPV),
        ("evm", "mainnet", BIP32_TV1_M0H_XPRV),
        # A private key offered for the other network is refused as private,
        # not as a mismatch: the operator must not retry with the right network.
        ("bitcoin", "mainnet", BTC_TESTNET_TPRV),
        ("evm", "mainnet", BTC_TESTNET_TPRV),
    ],
)
def test_extended_private_keys_are_refused(kind, network, secret):
    with pytest.raises(PrivateKeyRefused) as refused:
        parse_account_key(kind, network, secret)
    assert refused.value.code == "private_key_refused"
    _assert_secret_not_echoed(refused.value, secret)


def test_private_key_data_under_public_version_bytes_is_refused():
    disguised = _reversion(BIP32_TV1_M0H_XPRV, slip132.XPUB.public)
    with pytest.raises(PrivateKeyRefused):
        parse_account_key("bitcoin", "mainnet", disguised)


@pytest.mark.parametrize(
    "secret",
    [
        WIF_UNCOMPRESSED,
        WIF_TESTNET,
        MNEMONIC,
        "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
        "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
    ],
)
def test_wif_keys_seed_phrases_and_bare_hex_secrets_are_refused(secret):
    with pytest.raises(PrivateKeyRefused) as refused:
        parse_account_key("bitcoin", "mainnet", secret)
    _assert_secret_not_echoed(refused.value, secret)


@pytest.mark.parametrize(
    ("kind", "network", "extended_key", "prefix"),
    [
        ("bitcoin", "testnet", BIP84_ZPUB, "zpub"),
        ("bitcoin", "regtest", BIP84_ZPUB, "zpub"),
        ("bitcoin", "mainnet", BIP84_VPUB, "vpub"),
        ("bitcoin", "mainnet", BTC_TESTNET_TPUB, "tpub"),
        ("litecoin", "testnet", LTC_LTUB, "Ltub"),
        ("dogecoin", "testnet", DOGE_DGUB, "dgub"),
        ("dogecoin", "mainnet", DOGE_TESTNET_TGUB, "tgub"),
        ("evm", "mainnet", BTC_TESTNET_TPUB, "tpub"),
    ],
)
def test_keys_for_the_other_network_are_a_network_mismatch(kind, network, extended_key, prefix):
    with pytest.raises(NetworkMismatch) as mismatch:
        parse_account_key(kind, network, extended_key)
    assert mismatch.value.code == "network_mismatch"
    assert mismatch.value.details["prefix"] == prefix


def _not_on_curve(extended_key: str) -> str:
    payload = Base58Decoder.CheckDecode(extended_key)
    return Base58Encoder.CheckEncode(payload[:45] + b"\x02" + b"\xff" * 32)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   ",
        "not an extended key",
        BIP84_ZPUB[:-1],  # truncated
        BIP84_ZPUB[:-2] + ("a" if BIP84_ZPUB[-2] != "a" else "b") + BIP84_ZPUB[-1],  # typo
        BIP84_ZPUB + BIP84_ZPUB,  # pasted twice
        "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA",  # an address, not a key
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
        DOGE_DGUB,  # a Dogecoin key offered for Bitcoin
        _reversion(BIP84_ZPUB, bytes.fromhex("02aa7ed3")),  # Zpub: multisig
        _reversion(BIP84_ZPUB, bytes.fromhex("deadbeef")),  # unknown version
        _not_on_curve(BIP84_ZPUB),
    ],
)
def test_garbage_is_an_invalid_extended_key(garbage):
    with pytest.raises(InvalidExtendedKey) as invalid:
        parse_account_key("bitcoin", "mainnet", garbage)
    assert invalid.value.code == "invalid_extended_key"


def test_a_non_string_key_is_invalid():
    with pytest.raises(InvalidExtendedKey):
        parse_account_key("bitcoin", "mainnet", None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "network"),
    [
        ("solana", "mainnet"),
        ("bitcoin", "stagenet"),
        ("bitcoin", "signet"),
        ("dogecoin", "regtest"),
        ("litecoin", "regtest"),
        ("evm", "regtest"),
        ("monero", "mainnet"),  # Monero takes a key pair: parse_monero_keys
    ],
)
def test_unsupported_chains_and_networks_are_refused(kind, network):
    with pytest.raises(UnsupportedChain) as unsupported:
        parse_account_key(kind, network, BIP84_ZPUB)
    assert unsupported.value.code == "unsupported_chain"


def test_every_slip132_version_serializes_to_its_prefix():
    key_data = Base58Decoder.CheckDecode(BIP84_ZPUB)[4:]
    for version in slip132.ALL_VERSIONS:
        assert Base58Encoder.CheckEncode(version.public + key_data).startswith(version.prefix)
        assert Base58Encoder.CheckEncode(version.private + key_data).startswith(
            version.private_prefix
        )


def test_slip132_versions_agree_with_bip_utils_coin_tables():
    def versions(conf):
        net_versions = conf.KeyNetVersions()
        return net_versions.Public(), net_versions.Private()

    def pair(version):
        return version.public, version.private

    assert versions(Bip44Conf.BitcoinMainNet) == pair(slip132.XPUB)
    assert versions(Bip44Conf.BitcoinTestNet) == pair(slip132.TPUB)
    assert versions(Bip49Conf.BitcoinMainNet) == pair(slip132.YPUB)
    assert versions(Bip49Conf.BitcoinTestNet) == pair(slip132.UPUB)
    assert versions(Bip84Conf.BitcoinMainNet) == pair(slip132.ZPUB)
    assert versions(Bip84Conf.BitcoinTestNet) == pair(slip132.VPUB)
    assert versions(Bip44Conf.DogecoinMainNet) == pair(slip132.DGUB)
    assert versions(Bip44Conf.DogecoinTestNet) == pair(slip132.TGUB)
    assert versions(Bip44Conf.LitecoinTestNet) == pair(slip132.TTUB)
    # Ltub and Mtub are bip-utils' "alternate" versions, readable only by
    # switching a global flag; the published Ltub/Mtub keys above cover them.


def test_bip44_ethereum_account_from_the_mnemonic_is_the_published_xpub():
    seed = Bip39SeedGenerator(MNEMONIC).Generate()
    account = Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(0)
    assert account.PublicKey().ToExtended() == ETH_XPUB
