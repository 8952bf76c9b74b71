"""Handing out addresses: one derivation index per address, never twice, no gaps.

`allocate_address` takes the chain's next index under the chain row's lock
(`take_next_index`), derives the address and inserts it, all in the caller's
transaction: a rollback returns the index, a commit publishes both together.
Unique constraints on (chain, index) and (chain, address) back this up, so
even a bug above could not hand an address out twice.

Watchers report addresses as they see them; `normalise_address` brings them to
the form we store (checksummed EVM, lower-case bech32) before matching.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from sqlalchemy import Connection

from services.key_server.addresses import repository as repo
from services.key_server.addresses.repository import AddressRow
from services.key_server.chains import repository as chains_repo
from services.key_server.chains.keys import ChainKeys
from services.key_server.chains.repository import ChainRow
from services.key_server.derivation import (
    ChainKind,
    InvalidAddress,
    InvalidIndex,
    checksum_evm_address,
    derive_address,
)
from services.key_server.errors import ChainExhausted
from services.key_server.metrics import ADDRESSES_ALLOCATED

_BECH32_PREFIXES = ("bc1", "tb1", "bcrt1", "ltc1", "tltc1")
MAX_ADDRESS_LENGTH = 120
_PRINTABLE_ASCII = re.compile(r"[!-~]+")


def allocate_address(
    conn: Connection,
    keys: ChainKeys,
    chain: ChainRow,
    purpose: str,
    agent_id: uuid.UUID | None,
    now: datetime,
) -> AddressRow:
    spec = keys.spec(conn, chain)
    while True:
        index = chains_repo.take_next_index(conn, chain.id)
        if index is None:
            raise ChainExhausted(
                f"the chain {chain.id!r} has handed out every non-hardened index; "
                "register a new account key",
                chain=chain.id,
            )
        try:
            address = derive_address(spec, index)
        except InvalidIndex:
            # BIP-32: an index whose child key is invalid (probability < 2**-127)
            # is skipped, as every wallet skips it.
            continue
        row = AddressRow(uuid.uuid4(), chain.id, index, address, purpose, agent_id, now)
        repo.insert_address(conn, row)
        ADDRESSES_ALLOCATED.labels(chain.id, purpose).inc()
        return row


def normalise_address(kind: str, address: str) -> str:
    text = address.strip()
    if not text or len(text) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress("an address is 1-120 characters")
    if _PRINTABLE_ASCII.fullmatch(text) is None:  # every chain's addresses are
        raise InvalidAddress("an address is printable ASCII, without spaces")
    if kind == ChainKind.EVM.value:
        return checksum_evm_address(text)
    if text.lower().startswith(_BECH32_PREFIXES):
        return text.lower()
    return text
