# ruff: noqa: E501 -- published vectors stay verbatim, one per line, so they can be searched for.
"""Monero watch-only keys and subaddresses.

Sources (quoted strings below are copied from them):
- bip-utils test suite, ebellocchia/bip_utils tests/monero/test_monero.py
  ("Verified with the official Monero wallet"): watch-only key pairs with their
  primary address and subaddresses (major, minor), on mainnet, stagenet, testnet.
- The Monero General Fund: its primary address and view key are published by
  the Monero project (getmonero.org, "Donate"), and its donation address is the
  subaddress (0, 70) of that wallet; the same triple is a test vector in
  P2Pool-Observer/consensus monero/address/subaddress_test.go.
"""

import pytest
from bip_utils import XmrAddrDecoder

from services.key_server.derivation import (
    MAX_INDEX,
    ChainKind,
    ChainSpec,
    InvalidAddress,
    InvalidIndex,
    InvalidMoneroKey,
    Network,
    NetworkMismatch,
    PrivateKeyRefused,
    UnsupportedChain,
    derive_address,
    parse_account_key,
    parse_monero_keys,
)

# bip-utils test_monero.py, first mainnet vector.
MAINNET_PRIVATE_SPEND = "3fc22d2b139182b29cae08fb2838ef458de7a62c4c1a2a53767a8f6c04874107"
MAINNET_PRIVATE_VIEW = "66e7495a49d2f1b9458204386bd6aadf6402c270d37d503a1cebde58a0d38a00"
MAINNET_PUBLIC_SPEND = "f7ee64693c501c0f6112f5ab4d33b405c35f66efb2c704ffbd2f7dc63408235e"
MAINNET_PUBLIC_VIEW = "7f9e54e6dc3fbbd4b7a3b4412c22f4e2d78ee91ddfeaa30a9181e4b374ac3613"
MAINNET_PRIMARY = "4B23epeYLCj3aCTG8X83ZM1xunHBjWEB5jmzM1zfrAKcGokjBPvS7eAcadEQZEgDhDeweod9KEZ5L2mXYVthxdxy3CQiRDK"
MAINNET_SUBADDRESS_0_1 = "89EpSrB4wKB3UrLk8Zf4dHhvcfo1TqVfR6PAE8WPtwK9YuJhiEaU49y8w9fBaCTPUSCmaYTQbD3LhgbkHriuQLgDMM1dpsk"
# bip-utils test_monero.py, first stagenet vector.
STAGENET_PRIVATE_VIEW = "b9c02bf2e8e30169cbbe2c22135a65e02cb80531f7bed1105f562cc61ce10b07"
STAGENET_PUBLIC_SPEND = "ee3f0bbbd4ee4d30d05db97b0e28dfa1c624f436f886488fd6014a74a9c47edd"
STAGENET_PRIMARY = "5Aro6RZf2gc9AZGHkyVLkvU4Qonc8yQ8fR4PZTy9haCVe6NHSMH4TtNLyWhovaP75PFDSUC9cAML7MAGhXS56o16H7BmpEP"
STAGENET_SUBADDRESS_0_1 = "74oX2Dpt1g53S1AUVmcitNMaatEtSw4P79gi4Dnk8dYH7BAS9PFbcrQA27WWLurvzR9hL87soCikrb8oNvuW7bL8K2YVwh5"
# bip-utils test_monero.py, second testnet vector.
TESTNET_PRIVATE_VIEW = "22097897de557cac380a5f6eed368364725bb9321ba67632cb776b9d4ca0c903"
TESTNET_PUBLIC_SPEND = "70d532772bf2656a27abf25b3f1cd16c6027b455cc81e69743aec8182731106f"
TESTNET_PRIMARY = "9wSeitNRRdnJkqVqj7fFKvK8NzQVKUsyPSJTLLJNRgMVKeUiSsJ2Pb1K3t1upYkiiw8uwqWfcqa8ifB3DXhMEDEFNXkC44K"
TESTNET_SUBADDRESS_0_1 = "BcPG7CQd17mQ2J6hqWD59w7FqunPzJwhpCfyz6jzfzriaDnC7mHMhvZhqftw8w632ij2mpq8c1MsJPanrMQTKY547pTBvTq"
# Monero General Fund.
GENERAL_FUND_PRIMARY = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"
GENERAL_FUND_VIEW_KEY = "f359631075708155cc3d92a32b75a7d02a5dcf27756707b47a2b31b21c389501"
GENERAL_FUND_DONATION_0_70 = "888tNkZrPN6JsEgekjMnABU4TBzc2Dt29EPAvkRxbANsAnjyPbb3iQ1YBRk1UXcdRsiKc9dhwMVgN5S9cQUiyoogDavup3H"
GENERAL_FUND_PUBLIC_SPEND = "42f18fc61586554095b0799b5c4b6f00cdeb26a93b20540d366932c6001617b7"


def _chain(network, public_spend, private_view, **kwargs) -> ChainSpec:
    return ChainSpec.for_key(parse_monero_keys(network, public_spend, private_view, **kwargs))


@pytest.mark.parametrize(
    ("network", "public_spend", "private_view", "primary", "subaddress_0_1"),
    [
        (
            "mainnet",
            MAINNET_PUBLIC_SPEND,
            MAINNET_PRIVATE_VIEW,
            MAINNET_PRIMARY,
            MAINNET_SUBADDRESS_0_1,
        ),
        (
            "stagenet",
            STAGENET_PUBLIC_SPEND,
            STAGENET_PRIVATE_VIEW,
            STAGENET_PRIMARY,
            STAGENET_SUBADDRESS_0_1,
        ),
        (
            "testnet",
            TESTNET_PUBLIC_SPEND,
            TESTNET_PRIVATE_VIEW,
            TESTNET_PRIMARY,
            TESTNET_SUBADDRESS_0_1,
        ),
    ],
)
def test_subaddress_and_primary_match_bip_utils_vectors(
    network, public_spend, private_view, primary, subaddress_0_1
):
    chain = _chain(network, public_spend, private_view, primary_address=primary)

    assert derive_address(chain, 1) == subaddress_0_1
    assert chain.key.primary_address == primary


def test_general_fund_donation_address_is_its_subaddress_0_70():
    decoded = XmrAddrDecoder.DecodeAddr(GENERAL_FUND_PRIMARY, net_ver=b"\x12")
    assert decoded[:32].hex() == GENERAL_FUND_PUBLIC_SPEND

    chain = _chain(
        "mainnet",
        GENERAL_FUND_PUBLIC_SPEND,
        GENERAL_FUND_VIEW_KEY,
        primary_address=GENERAL_FUND_PRIMARY,
    )

    assert derive_address(chain, 70) == GENERAL_FUND_DONATION_0_70


def test_public_view_key_is_derived_from_the_private_one():
    key = parse_monero_keys("mainnet", MAINNET_PUBLIC_SPEND, MAINNET_PRIVATE_VIEW)
    assert key.public_view_key.hex() == MAINNET_PUBLIC_VIEW
    assert key.chain_kind is ChainKind.MONERO
    assert key.network is Network.MAINNET


def test_index_zero_is_the_primary_address_and_is_refused_for_deposits():
    chain = _chain("mainnet", MAINNET_PUBLIC_SPEND, MAINNET_PRIVATE_VIEW)

    assert chain.first_index == 1
    with pytest.raises(InvalidIndex) as refused:
        derive_address(chain, 0)
    assert refused.value.code == "invalid_index"
    assert chain.key.primary_address == MAINNET_PRIMARY


@pytest.mark.parametrize("index", [-1, 2**31, True])
def test_monero_indexes_follow_the_same_range_rule(index):
    chain = _chain("mainnet", MAINNET_PUBLIC_SPEND, MAINNET_PRIVATE_VIEW)
    with pytest.raises(InvalidIndex):
        derive_address(chain, index)


def test_highest_index_gives_a_subaddress():
    chain = _chain("mainnet", MAINNET_PUBLIC_SPEND, MAINNET_PRIVATE_VIEW)
    assert derive_address(chain, MAX_INDEX).startswith("8")


def test_private_spend_key_in_the_public_spend_field_is_refused():
    with pytest.raises(PrivateKeyRefused) as refused:
        parse_monero_keys("mainnet", MAINNET_PRIVATE_SPEND, MAINNET_PRIVATE_VIEW)
    assert refused.value.code == "private_key_refused"
    assert MAINNET_PRIVATE_SPEND not in str(refused.value)


def test_private_spend_key_in_the_private_view_field_is_refused():
    with pytest.raises(PrivateKeyRefused) as refused:
        parse_monero_keys("mainnet", MAINNET_PUBLIC_SPEND, MAINNET_PRIVATE_SPEND)
    assert MAINNET_PRIVATE_SPEND not in str(refused.value)


def test_primary_address_of_another_network_is_a_network_mismatch():
    with pytest.raises(NetworkMismatch):
        parse_monero_keys(
            "mainnet",
            STAGENET_PUBLIC_SPEND,
            STAGENET_PRIVATE_VIEW,
            primary_address=STAGENET_PRIMARY,
        )


def test_primary_address_of_another_wallet_is_refused():
    with pytest.raises(InvalidMoneroKey):
        parse_monero_keys(
            "mainnet",
            MAINNET_PUBLIC_SPEND,
            MAINNET_PRIVATE_VIEW,
            primary_address=GENERAL_FUND_PRIMARY,
        )


@pytest.mark.parametrize("address", ["", "4notanaddress", MAINNET_SUBADDRESS_0_1])
def test_a_primary_address_that_is_not_one_is_refused(address):
    with pytest.raises(InvalidAddress):
        parse_monero_keys(
            "mainnet", MAINNET_PUBLIC_SPEND, MAINNET_PRIVATE_VIEW, primary_address=address
        )


@pytest.mark.parametrize(
    ("public_spend", "private_view"),
    [
        ("", MAINNET_PRIVATE_VIEW),
        (MAINNET_PUBLIC_SPEND, ""),
        (MAINNET_PUBLIC_SPEND[:-2], MAINNET_PRIVATE_VIEW),
        (MAINNET_PUBLIC_SPEND, MAINNET_PRIVATE_VIEW + "00"),
        ("zz" * 32, MAINNET_PRIVATE_VIEW),
        (MAINNET_PUBLIC_SPEND, "ff" * 32),  # not a reduced scalar
        ("02" + "00" * 31, MAINNET_PRIVATE_VIEW),  # not an ed25519 point
    ],
)
def test_malformed_keys_are_refused(public_spend, private_view):
    with pytest.raises(InvalidMoneroKey) as refused:
        parse_monero_keys("mainnet", public_spend, private_view)
    assert refused.value.code == "invalid_monero_key"


@pytest.mark.parametrize("network", ["regtest", "signet"])
def test_unsupported_monero_networks_are_refused(network):
    with pytest.raises(UnsupportedChain):
        parse_monero_keys(network, MAINNET_PUBLIC_SPEND, MAINNET_PRIVATE_VIEW)


def test_monero_is_not_an_extended_key_chain():
    with pytest.raises(UnsupportedChain):
        parse_account_key("monero", "mainnet", MAINNET_PRIMARY)


def test_private_view_key_stays_out_of_repr():
    key = parse_monero_keys("mainnet", MAINNET_PUBLIC_SPEND, MAINNET_PRIVATE_VIEW)
    assert "private_view_key" not in repr(key)
    assert repr(bytes.fromhex(MAINNET_PRIVATE_VIEW)) not in repr(key)


def test_fingerprint_identifies_the_wallet_not_the_network_or_input_case():
    lower = parse_monero_keys("mainnet", MAINNET_PUBLIC_SPEND, MAINNET_PRIVATE_VIEW)
    upper = parse_monero_keys("mainnet", MAINNET_PUBLIC_SPEND.upper(), MAINNET_PRIVATE_VIEW)
    other = parse_monero_keys("mainnet", GENERAL_FUND_PUBLIC_SPEND, GENERAL_FUND_VIEW_KEY)

    assert lower.fingerprint == upper.fingerprint
    assert lower.fingerprint != other.fingerprint
    assert len(lower.fingerprint) == 64
