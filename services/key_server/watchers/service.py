"""Chain watchers: the processes that see payments on chain and report them, signed.

Each watcher gets a key id and an HMAC secret, shown once. The secret is
needed to verify every event, so it cannot be stored as a hash: it is sealed
in the vault. A revoked watcher's events are refused like any bad signature.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection

from services.common import signing
from services.common.sealing import SecretOwner, Vault
from services.key_server.errors import BadSignature, InvalidRequest, NotFound
from services.key_server.vault import service as vault_service
from services.key_server.watchers import repository as repo
from services.key_server.watchers.repository import WatcherRow

HMAC_ENTRY = "hmac_secret"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_KEY_ID = re.compile(r"wk_[0-9a-f]{16}")


def create_watcher(
    conn: Connection, vault: Vault, name: str, now: datetime
) -> tuple[WatcherRow, str]:
    """(watcher, secret); the secret is never shown again."""
    if not re.match(NAME_PATTERN, name):
        raise InvalidRequest("a watcher name is 1-64 of A-Z a-z 0-9 _ . -", field="name")
    row = WatcherRow(id="wk_" + secrets.token_hex(8), name=name, created_at=now, revoked_at=None)
    secret = "whsec_" + secrets.token_urlsafe(32)
    repo.insert_watcher(conn, row)
    vault_service.store_secret(conn, vault, SecretOwner("watcher", row.id), HMAC_ENTRY, secret, now)
    return row, secret


def list_watchers(conn: Connection) -> list[WatcherRow]:
    return repo.list_watchers(conn)


def revoke_watcher(conn: Connection, watcher_id: str, now: datetime) -> None:
    if not repo.revoke_watcher(conn, watcher_id, now):
        raise NotFound(f"no active watcher {watcher_id!r}")


def verify_event(
    conn: Connection, vault: Vault, headers: Mapping[str, str], body: bytes, now: datetime
) -> str:
    """The id of the active watcher that signed this request, or `BadSignature`."""
    claimed = signing.header_value(headers, signing.KEY_ID_HEADER) or ""
    known: dict[str, str] = {}
    if _KEY_ID.fullmatch(claimed) and repo.is_active(conn, claimed):
        secret = vault_service.read_secret(conn, vault, SecretOwner("watcher", claimed), HMAC_ENTRY)
        if secret is not None:
            known[claimed] = secret
    try:
        return signing.verify_signed_request(headers, body, known, now)
    except signing.SignatureError as exc:
        raise BadSignature(
            "the request is not signed by an active watcher within 300 seconds"
        ) from exc
