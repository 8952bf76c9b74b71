"""`python -m services.key_server rotate-vault`: re-encrypt every row with the primary key.

Procedure (docs/key_server.md): put the new key first in KEY_SERVER_VAULT_KEYS
on every process, keeping the old ones after it; run this; once it reports
nothing left under older keys, remove them. `/readyz` fails while any row is
sealed by a key that is no longer configured, so a key removed too early is
noticed at once rather than when someone needs that secret.

One transaction per batch: interrupting loses at most the batch in flight, and
running it again carries on (rows already under the primary key are skipped).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from services.common.sealing import Vault
from services.key_server.vault import service


@dataclass(frozen=True)
class RotationReport:
    resealed: int
    remaining: int
    unknown_key_rows: int
    unopenable_rows: int = 0


def rotate_vault(
    engine: Engine,
    vault: Vault,
    say: Callable[[str], None],
    *,
    batch_size: int = 100,
    max_batches: int | None = None,
) -> RotationReport:
    with engine.connect() as conn:
        counts = service.rows_by_key(conn)
    total = sum(counts.values())
    unknown = sum(n for key, n in counts.items() if key not in vault.key_ids)
    to_do = total - counts.get(vault.primary_key_id, 0) - unknown
    say(
        f"vault: {total} rows; primary key {vault.primary_key_id}; "
        f"{to_do} to re-encrypt ({len(vault.key_ids) - 1} previous keys configured)"
    )
    if unknown:
        say(
            f"warning: {unknown} rows are sealed by a key that is not configured; "
            "they are skipped (add that key to KEY_SERVER_VAULT_KEYS to re-encrypt them)"
        )
    done = 0
    batches = 0
    unopenable: list[uuid.UUID] = []
    after: uuid.UUID | None = None  # keyset: rows skipped in a batch are not met again
    while max_batches is None or batches < max_batches:
        with engine.begin() as conn:
            batch = service.reseal_batch(conn, vault, batch_size, after)
        if batch.last_id is None:
            break
        after = batch.last_id
        batches += 1
        done += batch.resealed
        unopenable += batch.unopenable
        say(f"re-encrypted {done}/{to_do}")
    for row_id in unopenable:
        say(f"error: vault row {row_id} does not open with its key (damaged, or not this row's)")
    with engine.connect() as conn:
        counts = service.rows_by_key(conn)
    remaining = sum(n for key, n in counts.items() if key != vault.primary_key_id)
    unknown = sum(n for key, n in counts.items() if key not in vault.key_ids)
    if unopenable:
        say(f"{remaining} rows are not under the primary key: {len(unopenable)} cannot be opened")
    elif unknown:
        say(f"{remaining} rows are not under the primary key: {unknown} under unconfigured keys")
    elif remaining:
        say(f"{remaining} rows are not under the primary key yet; run rotate-vault again")
    else:
        say(
            f"done: all {sum(counts.values())} rows are under the primary key "
            f"{vault.primary_key_id}; older keys can now be removed from KEY_SERVER_VAULT_KEYS"
        )
    return RotationReport(
        resealed=done,
        remaining=remaining,
        unknown_key_rows=unknown,
        unopenable_rows=len(unopenable),
    )
