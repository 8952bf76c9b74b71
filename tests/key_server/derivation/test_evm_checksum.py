"""EIP-55 checksummed addresses.

Source: the test cases of EIP-55,
https://github.com/ethereum/EIPs/blob/master/EIPS/eip-55.md ("All caps",
"All Lower", "Normal").
"""

import pytest

from services.key_server.derivation import InvalidAddress, checksum_evm_address

EIP55_VECTORS = [
    # All caps
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    # All Lower
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    # Normal
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


@pytest.mark.parametrize("address", EIP55_VECTORS)
def test_eip55_vectors_are_their_own_checksum(address):
    assert checksum_evm_address(address) == address


@pytest.mark.parametrize("address", EIP55_VECTORS)
def test_lower_case_form_checksums_to_the_eip55_vector(address):
    assert checksum_evm_address(address.lower()) == address
    assert checksum_evm_address("0x" + address[2:].upper()) == address


def test_a_wrong_mixed_case_is_refused():
    wrong = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"  # last letter flipped
    with pytest.raises(InvalidAddress) as refused:
        checksum_evm_address(wrong)
    assert refused.value.code == "invalid_address"


@pytest.mark.parametrize(
    "address",
    [
        "",
        "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",  # no 0x
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",  # 39 hex characters
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00",
        "0xZZAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    ],
)
def test_malformed_addresses_are_refused(address):
    with pytest.raises(InvalidAddress):
        checksum_evm_address(address)
