"""Secrets sealed at rest: MultiFernet over the configured keys, primary first.

Used by the key server's vault (customer secrets, watcher secrets, Monero view
keys) and by billing (webhook signing secrets): a copy of the database alone
never yields a usable secret.

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

from services.common.devsecrets import dev_secret
from services.common.errors import ConfigError

_KEY_ID_DOMAIN = b"sealpay/vault-key/v1\x00"


class VaultError(Exception):
    """A stored value cannot be opened with the configured keys (or is not this row's)."""


@dataclass(frozen=True, slots=True)
class SecretOwner:
    kind: str  # agent, watcher, chain, webhook_endpoint
    id: str


@dataclass(frozen=True, slots=True)
class Sealed:
    ciphertext: str
    key_id: str


def resolve_keys(value: str | None, env: str, *, setting: str, dev_name: str) -> tuple[str, ...]:
    """Comma-separated Fernet keys, primary first, each checked to be a Fernet key.

    Without one a service cannot read the secrets it holds (nor seal new ones),
    so it refuses to start rather than fail on the first request. Development
    generates one key per checkout (`dev_name` in .data/dev-secrets.json).
    """
    keys = tuple(k.strip() for k in (value or "").split(",") if k.strip())
    if not keys:
        if env == "production":
            raise ConfigError(
                f"{setting} is required when SEALPAY_ENV=production: comma-separated "
                "Fernet keys, primary first (generate one with `python -c 'from "
                "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
            )
        # token_urlsafe(32) is 32 random bytes in unpadded base64url: with its
        # padding restored it is a Fernet key.
        keys = (dev_secret(dev_name, env) + "=",)
    for position, key in enumerate(keys, start=1):
        if not is_fernet_key(key):
            raise ConfigError(
                f"{setting}: key {position} is not a Fernet key (32 bytes, url-safe base64)"
            )
    if len(set(keys)) != len(keys):
        raise ConfigError(f"{setting} lists the same key twice")
    return keys


def is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32 and len(key) == 44
    except (ValueError, UnicodeEncodeError):
        return False


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
