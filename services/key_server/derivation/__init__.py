"""Pure deposit-address derivation for the key server.

No database, no I/O: the service around this package stores what the
operator registered and the next free index; this package turns them into
addresses and refuses anything that is not public key material.

    key = parse_account_key("bitcoin", "mainnet", "zpub6r...")   # or parse_monero_keys
    chain = ChainSpec.for_key(key)
    address = derive_address(chain, chain.first_index)

* `parse_account_key` takes an account-level extended public key (xpub/tpub,
  SLIP-132 ypub/zpub/upub/vpub, Ltub/Mtub/ttub for Litecoin, dgub/tgub for
  Dogecoin) and refuses private keys, the wrong network, and garbage.
* `parse_monero_keys` takes a public spend key and a private view key.
* `key.fingerprint` is equal for the same key material whatever its
  serialization, so the service can refuse a key already registered elsewhere.
* `derive_address(chain, index)` gives the receive address at 0/index
  (Monero: subaddress (0, index), from index 1).

Every refusal is a `DerivationError` with a stable `code`.
"""

from services.key_server.derivation.account_keys import (
    MAX_INDEX,
    AccountKey,
    check_index,
    parse_account_key,
)
from services.key_server.derivation.addresses import ChainSpec, derive_address
from services.key_server.derivation.chains import (
    SUPPORTED_NETWORKS,
    AddressType,
    ChainKind,
    Network,
)
from services.key_server.derivation.errors import (
    DerivationError,
    InvalidAddress,
    InvalidExtendedKey,
    InvalidIndex,
    InvalidMoneroKey,
    NetworkMismatch,
    PrivateKeyRefused,
    UnsupportedChain,
)
from services.key_server.derivation.evm import checksum_evm_address
from services.key_server.derivation.monero import (
    MONERO_ACCOUNT_MAJOR,
    MoneroAccountKey,
    parse_monero_keys,
)

__all__ = [
    "MAX_INDEX",
    "MONERO_ACCOUNT_MAJOR",
    "SUPPORTED_NETWORKS",
    "AccountKey",
    "AddressType",
    "ChainKind",
    "ChainSpec",
    "DerivationError",
    "InvalidAddress",
    "InvalidExtendedKey",
    "InvalidIndex",
    "InvalidMoneroKey",
    "MoneroAccountKey",
    "Network",
    "NetworkMismatch",
    "PrivateKeyRefused",
    "UnsupportedChain",
    "check_index",
    "checksum_evm_address",
    "derive_address",
    "parse_account_key",
    "parse_monero_keys",
]
