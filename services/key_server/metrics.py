"""Prometheus counters of the key server (label `chain`: operator-defined chain ids)."""

from __future__ import annotations

from prometheus_client import Counter

DEPOSITS_SEEN = Counter(
    "sealpay_deposits_seen_total",
    "Deposit outputs reported by a watcher for the first time.",
    ["chain"],
)
DEPOSITS_CONFIRMED = Counter(
    "sealpay_deposits_confirmed_total",
    "Deposit outputs that reached their chain's confirmation count (a credit is now owed).",
    ["chain"],
)
DEPOSITS_CREDITED = Counter(
    "sealpay_deposits_credited_total",
    "Owed deposit credits posted to the ledger (counted once per output, by the worker).",
    ["chain"],
)
ADDRESSES_ALLOCATED = Counter(
    "sealpay_addresses_allocated_total",
    "Derivation indexes taken, by purpose (deposit, charge); counted when taken, so a request "
    "that then fails (and gives its index back) still counts.",
    ["chain", "purpose"],
)
CHAIN_EVENTS = Counter(
    "sealpay_chain_events_total",
    "Signed chain events accepted, by outcome (new, updated, unchanged).",
    ["chain", "outcome"],
)
CHAIN_EVENTS_REFUSED = Counter(
    "sealpay_chain_events_refused_total",
    "Chain events refused, by reason (bad_signature, event_conflict, ...).",
    ["reason"],
)
CALLBACKS = Counter(
    "sealpay_charge_callbacks_total",
    "Charge callback delivery attempts, by outcome (delivered, failed).",
    ["outcome"],
)
