"""Why a key or an index was refused, each reason with a stable `code`.

The key server's HTTP layer maps these to RFC 9457 problem+json with `code`
as the problem's `code` field; the codes are public and never change meaning.

Messages never contain the submitted key material: a refused input may be a
private key pasted by mistake, and error messages end up in logs.
"""

from __future__ import annotations

from typing import Any


class DerivationError(Exception):
    """Base of every refusal raised by `services.key_server.derivation`."""

    code = "derivation_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class UnsupportedChain(DerivationError):
    """The chain kind, or its pairing with the network, is not one we derive for."""

    code = "unsupported_chain"


class InvalidExtendedKey(DerivationError):
    """Not a well-formed extended public key for the chain asked for."""

    code = "invalid_extended_key"


class PrivateKeyRefused(DerivationError):
    """Spend-capable key material: the key server holds public keys only.

    Raised for extended private keys (xprv, tprv, zprv, ...), WIF keys, BIP-39
    seed phrases and a Monero private spend key given as the public one.
    """

    code = "private_key_refused"


class NetworkMismatch(DerivationError):
    """A mainnet key offered for a test network, or the reverse."""

    code = "network_mismatch"


class InvalidMoneroKey(DerivationError):
    """A Monero public spend key or private view key that is malformed, or that
    does not match the primary address given with it."""

    code = "invalid_monero_key"


class InvalidIndex(DerivationError):
    """An index outside the non-hardened range, or one reserved on this chain."""

    code = "invalid_index"


class InvalidAddress(DerivationError):
    """An address string that is malformed or fails its checksum."""

    code = "invalid_address"
