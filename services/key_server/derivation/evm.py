"""EIP-55 checksummed EVM addresses.

Chain watchers and explorers report EVM addresses in lower case; the key
server hands them out checksummed. `checksum_evm_address` is the one way to
bring either form to the stored one, so that comparing addresses is string
equality.
"""

from __future__ import annotations

import re

from bip_utils import Kekkak256

from services.key_server.derivation.errors import InvalidAddress

_ADDRESS = re.compile(r"0x([0-9a-fA-F]{40})")


def checksum_evm_address(address: str) -> str:
    """The EIP-55 form of `address`.

    All-lower and all-upper hex carry no checksum and are accepted as they
    are; a mixed-case address must already be correctly checksummed, because a
    wrong mixed case is exactly the typo EIP-55 exists to catch.
    """
    match = _ADDRESS.fullmatch(address.strip()) if isinstance(address, str) else None
    if match is None:
        raise InvalidAddress("an EVM address is 0x followed by 40 hexadecimal characters")
    hex_part = match.group(1)
    checksummed = _eip55(hex_part)
    is_mixed_case = hex_part not in (hex_part.lower(), hex_part.upper())
    if is_mixed_case and hex_part != checksummed:
        raise InvalidAddress("the address's mixed case does not match its EIP-55 checksum")
    return "0x" + checksummed


def _eip55(hex_part: str) -> str:
    """Upper-case each letter whose nibble in keccak256(lowercase hex) is >= 8."""
    lower = hex_part.lower()
    digest: bytes = Kekkak256.QuickDigest(lower.encode("ascii"))
    nibbles = digest.hex()
    return "".join(
        char.upper() if int(nibble, 16) >= 8 else char
        for char, nibble in zip(lower, nibbles, strict=False)
    )
