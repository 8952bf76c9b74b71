"""Deposits: each agent's own address per chain, and the credits confirmed payments owe.

* An agent's deposit address on a chain is stable (the newest one it was
  given) until it asks for a fresh one; every address it was ever given keeps
  crediting it.
* When a payment to a deposit address reaches the chain's confirmation count,
  `owe_credit` writes a "credit owed" row and defers the job that posts it, in
  the same transaction as the confirmation. The ledger Credit carries the
  idempotency key `deposit:<chain>:<txid>:<output>`, and the row is unique per
  output, so neither a re-delivered event nor a retried job credits twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection

from services.key_server.addresses import repository as addresses_repo
from services.key_server.addresses.repository import AddressRow
from services.key_server.addresses.service import allocate_address
from services.key_server.chains.keys import ChainKeys
from services.key_server.chains.repository import ChainRow
from services.key_server.chains.service import active_chain
from services.key_server.deposits import repository as repo
from services.key_server.jobs import CREDIT_DEPOSIT
from services.key_server.jobs import repository as jobs_repo

DEPOSIT = "deposit"


def deposit_address(
    conn: Connection,
    keys: ChainKeys,
    chain_id: str,
    agent_id: uuid.UUID,
    *,
    fresh: bool,
    now: datetime,
) -> tuple[AddressRow, bool]:
    """(address, created)."""
    chain = active_chain(conn, chain_id)
    if not fresh:
        current = addresses_repo.current_deposit_address(conn, agent_id, chain.id)
        if current is not None:
            return current, False
        addresses_repo.lock_agent_chain(conn, agent_id, chain.id)
        current = addresses_repo.current_deposit_address(conn, agent_id, chain.id)
        if current is not None:  # a concurrent first request got there first
            return current, False
    return allocate_address(conn, keys, chain, DEPOSIT, agent_id, now), True


def credit_key(chain_id: str, txid: str, output_index: int) -> str:
    return f"deposit:{chain_id}:{txid}:{output_index}"


def credit_queueing_lock(credit_id: uuid.UUID) -> str:
    return f"credit:{credit_id}"


def owe_credit(
    conn: Connection,
    chain: ChainRow,
    address: AddressRow,
    output_id: uuid.UUID,
    txid: str,
    output_index: int,
    amount: int,
    now: datetime,
) -> uuid.UUID | None:
    """Record the credit a confirmed deposit owes and defer its job; None if already owed."""
    assert address.agent_id is not None
    credit_id = uuid.uuid4()
    created = repo.insert_credit(
        conn,
        credit_id,
        output_id,
        chain.id,
        address.agent_id,
        chain.asset,
        amount,
        credit_key(chain.id, txid, output_index),
        now,
    )
    if not created:
        return None
    jobs_repo.defer(
        conn,
        CREDIT_DEPOSIT,
        {"credit_id": str(credit_id)},
        queueing_lock=credit_queueing_lock(credit_id),
    )
    return credit_id
