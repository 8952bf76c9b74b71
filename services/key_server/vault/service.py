"""The vault: customer secrets (an agent's own provider keys), watcher secrets and
Monero view keys, encrypted with the vault keys; only a hint is ever listed.

Rules:
* values are sealed with the primary key; any configured key opens them;
* listing returns name, hint (last 4 characters of a value of 16 or more
  characters, else nothing) and times — never the value;
* an agent reaches only its own secrets: every query is scoped by owner, so a
  delete of someone else's name is the same 404 as a name that never existed.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from services.common.sealing import SecretOwner, Vault, VaultError
from services.key_server.errors import InvalidRequest, NotFound
from services.key_server.vault import repository as repo

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_VALUE_LENGTH = 8192
HINT_MIN_LENGTH = 16
_NAME = re.compile(NAME_PATTERN)


@dataclass(frozen=True)
class SecretInfo:
    name: str
    hint: str
    created_at: datetime
    updated_at: datetime


def hint_for(value: str) -> str:
    return value[-4:] if len(value) >= HINT_MIN_LENGTH else ""


def store_secret(
    conn: Connection, vault: Vault, owner: SecretOwner, name: str, value: str, now: datetime
) -> tuple[SecretInfo, bool]:
    """Seal and store (or replace) a secret; (info, created)."""
    if not _NAME.match(name):
        raise InvalidRequest("a secret name is 1-64 of A-Z a-z 0-9 _ . -", field="name")
    if not value or len(value) > MAX_VALUE_LENGTH:
        raise InvalidRequest(f"a secret is 1-{MAX_VALUE_LENGTH} characters", field="value")
    sealed = vault.seal(owner, name, value)
    row, created = repo.upsert_secret(
        conn, owner.kind, owner.id, name, sealed.ciphertext, sealed.key_id, hint_for(value), now
    )
    return _info(row), created


def list_secrets(conn: Connection, owner: SecretOwner) -> list[SecretInfo]:
    return [_info(row) for row in repo.list_secrets(conn, owner.kind, owner.id)]


def delete_secret(conn: Connection, owner: SecretOwner, name: str) -> None:
    if not repo.delete_secret(conn, owner.kind, owner.id, name):
        raise NotFound(f"no secret named {name!r}")


def read_secret(conn: Connection, vault: Vault, owner: SecretOwner, name: str) -> str | None:
    """The plaintext, for the service's own use (watcher verification, Monero view keys)."""
    row = repo.get_secret(conn, owner.kind, owner.id, name)
    return None if row is None else vault.open(owner, name, row.ciphertext)


def rows_by_key(conn: Connection) -> dict[str, int]:
    return repo.count_by_key(conn)


@dataclass(frozen=True)
class ResealBatch:
    resealed: int
    unopenable: list[uuid.UUID]  # rows under a configured key that still do not open
    last_id: uuid.UUID | None  # where the next batch starts; None: nothing was left


def reseal_batch(
    conn: Connection, vault: Vault, batch_size: int, after: uuid.UUID | None = None
) -> ResealBatch:
    """Re-encrypt up to `batch_size` rows under an older configured key (ids above
    `after`).

    Each row is opened (checking it belongs to its row) and sealed again with
    the primary key. The caller commits per batch, so an interrupted rotation
    keeps what it did and the next run carries on from there. Rows under a key
    that is not configured are left alone (nothing here can open them), and so
    is a row its key does not open (damaged, or moved from another row): neither
    may stop every row after it from being re-encrypted.
    """
    older = [k for k in vault.key_ids if k != vault.primary_key_id]
    if not older:
        return ResealBatch(0, [], None)
    rows = repo.lock_rows_under(conn, older, batch_size, after)
    updates = []
    unopenable = []
    for row in rows:
        try:
            sealed = vault.reseal(
                SecretOwner(row.owner_kind, row.owner_id), row.name, row.ciphertext
            )
        except VaultError:
            unopenable.append(row.id)
            continue
        updates.append((row.id, sealed.ciphertext, sealed.key_id))
    repo.reseal_rows(conn, updates)
    return ResealBatch(len(updates), unopenable, rows[-1].id if rows else None)


def _info(row: repo.SecretRow) -> SecretInfo:
    return SecretInfo(row.name, row.hint, row.created_at, row.updated_at)
