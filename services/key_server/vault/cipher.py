"""The vault's encryption: MultiFernet over the configured keys, primary first.

Each sealed value also carries the identity of the row it belongs to (owner
kind, owner id, name) inside the ciphertext, and opening checks it: someone
with write access to the database cannot move agent A's secret onto agent B's
row and have the service hand it to B. Fernet authenticates, so a modified
token does not decrypt at all.

`key_id` names a key without revealing it (a domain-separated SHA-256 prefix),
so rows can record which key sealed them and rotation can find what is left.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_KEY_ID_DOMAIN = b"sealpay/vault-key/v1\x00"


class VaultError(Exception):
    """A stored value cannot be opened with the configured keys (or is not this row's)."""


@dataclass(frozen=True, slots=True)
class SecretOwner:
    kind: str  # agent, watcher, chain
    id: str


@dataclass(frozen=True, slots=True)
class Sealed:
    ciphertext: str
    key_id: str


def key_id(key: str) -> str:
    raw = base64.urlsafe_b64decode(key.encode("ascii"))
    return hashlib.sha256(_KEY_ID_DOMAIN + raw).hexdigest()[:16]


class Vault:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("the vault needs at least one key")
        self._multi = MultiFernet([Fernet(key) for key in keys])
        self.key_ids: tuple[str, ...] = tuple(key_id(key) for key in keys)
        self.primary_key_id = self.key_ids[0]

    def seal(self, owner: SecretOwner, name: str, value: str) -> Sealed:
        plaintext = json.dumps([owner.kind, owner.id, name, value]).encode("utf-8")
        token = self._multi.encrypt(plaintext).decode("ascii")
        return Sealed(token, self.primary_key_id)

    def open(self, owner: SecretOwner, name: str, ciphertext: str) -> str:
        try:
            plaintext = self._multi.decrypt(ciphertext.encode("ascii"))
        except InvalidToken:
            raise VaultError(
                f"no configured vault key opens the {owner.kind} secret {name!r}"
            ) from None
        kind, owner_id, stored_name, value = json.loads(plaintext)
        if (kind, owner_id, stored_name) != (owner.kind, owner.id, name):
            raise VaultError(f"the {owner.kind} secret {name!r} was sealed for another row")
        if not isinstance(value, str):
            raise VaultError("a sealed value is not text")
        return value

    def reseal(self, owner: SecretOwner, name: str, ciphertext: str) -> Sealed:
        """The same value under the primary key (after checking it is this row's)."""
        return self.seal(owner, name, self.open(owner, name, ciphertext))
