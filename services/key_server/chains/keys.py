"""Each registered chain's `ChainSpec`, rebuilt from its row and cached per process.

The row holds public material only; a Monero chain's private view key comes
from the vault. The spec is checked against the fingerprint stored at
registration, so a row edited behind the service's back does not silently
derive someone else's addresses.
"""

from __future__ import annotations

import threading

from sqlalchemy import Connection

from services.common.sealing import SecretOwner, Vault
from services.key_server.chains.repository import ChainRow
from services.key_server.derivation import (
    AccountKey,
    ChainSpec,
    MoneroAccountKey,
    parse_account_key,
    parse_monero_keys,
)
from services.key_server.vault import service as vault_service

MONERO_VIEW_KEY = "monero_private_view_key"


def view_key_owner(chain_id: str) -> SecretOwner:
    return SecretOwner("chain", chain_id)


class ChainKeys:
    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self._specs: dict[tuple[str, str], ChainSpec] = {}
        self._lock = threading.Lock()

    def spec(self, conn: Connection, chain: ChainRow) -> ChainSpec:
        cache_key = (chain.id, chain.key_fingerprint)
        found = self._specs.get(cache_key)
        if found is None:
            found = self._build(conn, chain)
            with self._lock:
                self._specs[cache_key] = found
        return found

    def _build(self, conn: Connection, chain: ChainRow) -> ChainSpec:
        key: AccountKey | MoneroAccountKey
        if chain.public_spend_key is not None:
            view_key = vault_service.read_secret(
                conn, self.vault, view_key_owner(chain.id), MONERO_VIEW_KEY
            )
            if view_key is None:
                raise RuntimeError(f"chain {chain.id}: its Monero view key is not in the vault")
            key = parse_monero_keys(chain.network, chain.public_spend_key, view_key)
        else:
            assert chain.extended_key is not None
            key = parse_account_key(chain.kind, chain.network, chain.extended_key)
        spec = ChainSpec.for_key(key)
        if spec.fingerprint != chain.key_fingerprint:
            raise RuntimeError(f"chain {chain.id}: the stored key does not match its fingerprint")
        return spec
