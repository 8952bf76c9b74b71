"""Holders (agents as the ledger knows them), their accounts, tiers and usage."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import Connection

from services.payment_tee.core import limits
from services.payment_tee.core import read_repository as reads
from services.payment_tee.core import repository as repo
from services.payment_tee.core.audit import AuditEvent
from services.payment_tee.core.commands import check_account_name, check_asset
from services.payment_tee.core.engine import Operation
from services.payment_tee.core.errors import AccountExists, UnknownHolder
from services.payment_tee.core.records import (
    MAIN_ACCOUNT,
    AccountBalance,
    AccountRef,
    Balance,
    Holder,
    Usage,
)
from services.payment_tee.core.state import BatchState
from services.payment_tee.core.tiers import Tier, monthly_limit


def register_holder(conn: Connection, owner_id: uuid.UUID, asset: str, now: datetime) -> Holder:
    """Create the holder and its "main" account; a second call is a no-op."""
    check_asset(asset)
    repo.insert_holder(conn, owner_id, Tier.FREE, now)
    repo.insert_agent_account(conn, AccountRef(owner_id, MAIN_ACCOUNT, asset), now)
    return require_holder(conn, owner_id)


def require_holder(conn: Connection, owner_id: uuid.UUID) -> Holder:
    holder = repo.get_holder(conn, owner_id)
    if holder is None:
        raise UnknownHolder(f"no ledger holder {owner_id}")
    return holder


def open_account(conn: Connection, ref: AccountRef, now: datetime) -> AccountBalance:
    check_account_name(ref.name)
    check_asset(ref.asset)
    require_holder(conn, ref.owner_id)
    if not repo.insert_agent_account(conn, ref, now):
        raise AccountExists(f"an account named {ref.name!r} already exists", name=ref.name)
    return AccountBalance(ref.name, ref.asset, 0)


class SetTier(Operation):
    """Change a holder's tier; audited on its main account's chain.

    Runs through the batch engine so it is ordered with the postings around
    it: a transfer decided after it in the same batch already pays the new fee.
    """

    def __init__(self, owner_id: uuid.UUID, tier: Tier, asset: str, actor: str) -> None:
        self.owner_id = owner_id
        self.tier = tier
        self.main = AccountRef(owner_id, MAIN_ACCOUNT, asset)
        self.actor = actor

    def owners(self) -> set[uuid.UUID]:
        return {self.owner_id}

    def account_refs(self) -> set[AccountRef]:
        return {self.main}

    def decide(self, state: BatchState) -> Holder:
        holder = state.holder(self.owner_id)
        main = state.account(self.main, "holder")
        if holder.tier is not self.tier:
            previous, holder.tier = holder.tier, self.tier
            state.writes.tiers[self.owner_id] = self.tier
            state.append_audit(
                main,
                AuditEvent(
                    action="tier.set",
                    actor=self.actor,
                    entry_id=None,
                    details={"from": previous.value, "to": self.tier.value},
                    at=state.now,
                ),
            )
        return Holder(self.owner_id, self.tier, holder.created_at)


async def balance(conn: psycopg.AsyncConnection[Any], owner_id: uuid.UUID, asset: str) -> Balance:
    accounts = await reads.holder_accounts(conn, owner_id, asset)
    if accounts is None:
        raise UnknownHolder(f"no ledger holder {owner_id}")
    # Every posting settles at once; nothing is in flight inside the ledger, so
    # pending is zero until deposits awaiting confirmations are reported here.
    return Balance(owner_id, asset, sum(a.available for a in accounts), 0, tuple(accounts))


async def usage(conn: psycopg.AsyncConnection[Any], owner_id: uuid.UUID, at: datetime) -> Usage:
    month = limits.month_of(at)
    found = await reads.holder_usage(conn, owner_id, month)
    if found is None:
        raise UnknownHolder(f"no ledger holder {owner_id}")
    tier, transfers = found
    return Usage(
        owner_id=owner_id,
        tier=tier,
        month=month.strftime("%Y-%m"),
        transfers=transfers,
        limit=monthly_limit(tier),
    )
