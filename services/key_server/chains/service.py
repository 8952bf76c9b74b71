"""Registering chains: public key material only, checked before anything is stored.

A chain is the unit everything else hangs off: its key derives every address,
its `next_index` is the allocation counter, its `confirmations` decides when a
payment counts, its `asset` is what deposits credit in the ledger.

Refusals: a key that does not parse, is private, or is for the other network
(422 with the derivation code); an id in use (409 `chain_exists`); key
material already registered under another id, deleted chains included (409
`key_already_registered`): two chains over one key would hand out the same
addresses twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from services.common.sealing import Vault
from services.key_server.chains import repository as repo
from services.key_server.chains.keys import MONERO_VIEW_KEY, ChainKeys, view_key_owner
from services.key_server.chains.repository import ChainRow
from services.key_server.chains.schemas import RegisterChain, UpdateChain
from services.key_server.derivation import (
    AccountKey,
    ChainKind,
    ChainSpec,
    MoneroAccountKey,
    derive_address,
    parse_account_key,
    parse_monero_keys,
)
from services.key_server.derivation.chains import parse_chain
from services.key_server.errors import (
    ChainDisabled,
    ChainExists,
    InvalidRequest,
    KeyAlreadyRegistered,
    UnknownChain,
)
from services.key_server.vault import service as vault_service

DEFAULT_ASSET: dict[ChainKind, str] = {
    ChainKind.BITCOIN: "BTC",
    ChainKind.LITECOIN: "LTC",
    ChainKind.DOGECOIN: "DOGE",
    ChainKind.EVM: "ETH",
    ChainKind.MONERO: "XMR",
}
DEFAULT_CONFIRMATIONS: dict[ChainKind, int] = {
    ChainKind.BITCOIN: 2,
    ChainKind.LITECOIN: 6,
    ChainKind.DOGECOIN: 6,
    ChainKind.EVM: 12,
    ChainKind.MONERO: 10,
}
ACCOUNT_DEPTH = 3  # m / purpose' / coin' / account'


@dataclass(frozen=True)
class ChainView:
    chain: ChainRow
    check_address: str
    warnings: list[str]


def register_chain(
    conn: Connection, keys: ChainKeys, vault: Vault, body: RegisterChain, now: datetime
) -> ChainView:
    kind, network = parse_chain(body.coin, body.network)
    key = _parse_key(kind, network.value, body)
    spec = ChainSpec.for_key(key)
    if repo.get_chain(conn, body.id, include_deleted=True) is not None:
        raise ChainExists(f"a chain with id {body.id!r} exists", chain=body.id)
    _refuse_registered_key(conn, spec.fingerprint)
    row = ChainRow(
        id=body.id,
        kind=kind.value,
        network=network.value,
        asset=body.asset or DEFAULT_ASSET[kind],
        confirmations=body.confirmations or DEFAULT_CONFIRMATIONS[kind],
        enabled=True,
        address_type=spec.address_type.value,
        extended_key=key.extended_key if isinstance(key, AccountKey) else None,
        public_spend_key=key.public_spend_key.hex() if isinstance(key, MoneroAccountKey) else None,
        key_fingerprint=spec.fingerprint,
        key_prefix=key.prefix if isinstance(key, AccountKey) else None,
        bip32_fingerprint=key.bip32_fingerprint if isinstance(key, AccountKey) else None,
        key_depth=key.depth if isinstance(key, AccountKey) else None,
        first_index=spec.first_index,
        next_index=spec.first_index,
        created_at=now,
        updated_at=now,
        deleted_at=None,
    )
    try:
        repo.insert_chain(conn, row)
    except repo.DuplicateChain as exc:  # lost a race with a concurrent registration
        if exc.constraint == "uq_chains_key_fingerprint":
            _refuse_registered_key(conn, spec.fingerprint)
        raise ChainExists(f"a chain with id {body.id!r} exists", chain=body.id) from None
    if isinstance(key, MoneroAccountKey):
        vault_service.store_secret(
            conn, vault, view_key_owner(row.id), MONERO_VIEW_KEY, key.private_view_key.hex(), now
        )
    return _view(conn, keys, row)


def list_chains(conn: Connection, keys: ChainKeys, *, include_deleted: bool) -> list[ChainView]:
    return [
        _view(conn, keys, row) for row in repo.list_chains(conn, include_deleted=include_deleted)
    ]


def update_chain(
    conn: Connection, keys: ChainKeys, chain_id: str, body: UpdateChain, now: datetime
) -> ChainView:
    changes: dict[str, Any] = body.model_dump(exclude_none=True)
    if not changes:
        raise InvalidRequest("nothing to change: give confirmations and/or enabled")
    row = repo.update_chain(conn, chain_id, changes, now)
    if row is None:
        raise UnknownChain(f"no chain {chain_id!r}", chain=chain_id)
    return _view(conn, keys, row)


def delete_chain(conn: Connection, chain_id: str, now: datetime) -> None:
    """Soft delete: no new addresses or charges; payments to its addresses still count."""
    if not repo.soft_delete_chain(conn, chain_id, now):
        raise UnknownChain(f"no chain {chain_id!r}", chain=chain_id)


def active_chain(conn: Connection, chain_id: str) -> ChainRow:
    """A chain that may hand out addresses now."""
    chain = repo.get_chain(conn, chain_id)
    if chain is None:
        raise UnknownChain(f"no chain {chain_id!r}", chain=chain_id)
    if not chain.enabled:
        raise ChainDisabled(f"the chain {chain_id!r} is disabled", chain=chain_id)
    return chain


def _parse_key(kind: ChainKind, network: str, body: RegisterChain) -> AccountKey | MoneroAccountKey:
    monero_fields = (body.public_spend_key, body.private_view_key, body.primary_address)
    if kind is ChainKind.MONERO:
        if body.xpub is not None:
            raise InvalidRequest("a Monero chain takes public_spend_key and private_view_key")
        if body.public_spend_key is None or body.private_view_key is None:
            raise InvalidRequest(
                "a Monero chain needs public_spend_key and private_view_key",
                field="public_spend_key" if body.public_spend_key is None else "private_view_key",
            )
        return parse_monero_keys(
            network,
            body.public_spend_key,
            body.private_view_key,
            primary_address=body.primary_address,
        )
    if any(value is not None for value in monero_fields):
        raise InvalidRequest(f"a {kind.value} chain takes an xpub, not Monero keys")
    if body.xpub is None:
        raise InvalidRequest(f"a {kind.value} chain needs an xpub", field="xpub")
    return parse_account_key(kind, network, body.xpub)


def _refuse_registered_key(conn: Connection, fingerprint: str) -> None:
    owner = repo.chain_id_with_fingerprint(conn, fingerprint)
    if owner is not None:
        raise KeyAlreadyRegistered(
            f"this key is already registered to chain {owner!r}", chain=owner
        )


def _view(conn: Connection, keys: ChainKeys, row: ChainRow) -> ChainView:
    spec = keys.spec(conn, row)
    warnings = []
    if row.key_depth is not None and row.key_depth != ACCOUNT_DEPTH:
        warnings.append(
            f"the key is at depth {row.key_depth}, not 3 (m/purpose'/coin'/account'): check "
            "check_address against your wallet's first receive address"
        )
    return ChainView(row, derive_address(spec, row.first_index), warnings)
