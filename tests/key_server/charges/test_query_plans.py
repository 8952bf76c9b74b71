"""The expiry sweep finds its charges (pending and seen) by index."""

from datetime import UTC, datetime

from support.plans import plan

from services.key_server.charges import repository as charges


def test_the_expiry_sweep_reads_pending_and_seen_charges_by_index(db):
    found = plan(
        db,
        charges.DUE_UNSETTLED,
        {"now": datetime.now(UTC), "dropped_before": datetime.now(UTC), "limit": 100},
    )
    assert "ix_charges_expires_at" in found, found
    assert "Seq Scan on charges" not in found, found
