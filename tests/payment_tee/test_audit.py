"""The HMAC-chained audit log detects edits, deletions and truncation."""

import sqlalchemy as sa
from support.factories import AUDIT_KEY, new_holder, pay

from services.payment_tee.core import audit
from services.payment_tee.core.audit import verify_audit_chain
from services.payment_tee.core.tiers import Tier


def _activity(core):
    alice = new_holder(core, balance=100_000, tier=Tier.PRO)
    bob = new_holder(core, balance=5_000)
    for amount in (1_000, 2_000, 3_000):
        pay(core, alice, bob, amount)
    pay(core, bob, alice, 500)
    return alice, bob


def _tamper(db, sql):
    """What an attacker with database superuser rights would do: bypass the
    append-only triggers and rewrite rows."""
    with db.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(sa.text(sql))


def test_untouched_chain_verifies(db, core):
    _activity(core)
    with db.connect() as conn:
        result = verify_audit_chain(conn, AUDIT_KEY)
    assert result.ok, result.problems
    assert result.rows == 7  # 2 credits, 1 tier change, 4 transfers
    assert result.chains == 2


def test_every_posting_and_admin_action_is_audited(db, core):
    _activity(core)
    with db.connect() as conn:
        actions = conn.execute(
            sa.text("SELECT action, count(*) FROM ledger.audit_log GROUP BY action")
        ).all()
    assert dict(actions) == {"credit.posted": 2, "tier.set": 1, "hub_routing.posted": 4}


def test_an_edited_row_is_detected(db, core):
    _activity(core)
    _tamper(db, "UPDATE ledger.audit_log SET details = '{\"amount\": 1}' WHERE seq = 2")
    with db.connect() as conn:
        result = verify_audit_chain(conn, AUDIT_KEY)
    assert not result.ok
    assert any("hmac mismatch" in p for p in result.problems)


def test_a_deleted_middle_row_is_detected(db, core):
    _activity(core)
    _tamper(db, "DELETE FROM ledger.audit_log WHERE seq = 2")
    with db.connect() as conn:
        result = verify_audit_chain(conn, AUDIT_KEY)
    assert not result.ok


def test_dropping_the_newest_rows_is_detected(db, core):
    _activity(core)
    _tamper(
        db,
        "DELETE FROM ledger.audit_log a USING (SELECT account_id, max(seq) s "
        "FROM ledger.audit_log GROUP BY account_id) m "
        "WHERE a.account_id = m.account_id AND a.seq = m.s",
    )
    with db.connect() as conn:
        result = verify_audit_chain(conn, AUDIT_KEY)
    assert any("head at seq" in p for p in result.problems)


def test_a_different_key_cannot_verify(db, core):
    _activity(core)
    with db.connect() as conn:
        assert not verify_audit_chain(conn, b"another-key-another-key-another!!").ok


def test_the_journal_is_append_only(db, core):
    import pytest
    from sqlalchemy.exc import DBAPIError

    _activity(core)
    for sql in (
        "UPDATE ledger.entries SET amount = amount + 1",
        "DELETE FROM ledger.lines",
        "UPDATE ledger.audit_log SET actor = 'x'",
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.begin() as conn:
            conn.execute(sa.text(sql))


def test_unbalanced_lines_are_refused_by_the_database(db, core):
    import pytest
    from sqlalchemy.exc import DBAPIError

    _activity(core)
    with db.connect() as conn:
        entry_id = conn.execute(sa.text("SELECT id FROM ledger.entries LIMIT 1")).scalar_one()
        account = conn.execute(
            sa.text("SELECT id FROM ledger.accounts WHERE kind = 'agent' LIMIT 1")
        ).scalar_one()
    with pytest.raises(DBAPIError, match="does not balance"), db.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO ledger.lines VALUES (:e, 99, :a, 5)"),
            {"e": entry_id, "a": account},
        )


def test_postings_committed_while_it_reads_do_not_look_like_tampering(db, core, monkeypatch):
    """On a live system a batch commits between the read of the heads and the read
    of the rows: one snapshot keeps both consistent (no false 'head at seq')."""
    alice, bob = _activity(core)
    read_rows = audit.repo.iter_audit_rows

    def rows_after_a_posting(conn):
        pay(core, alice, bob, 1_000)  # committed by the core's own connection, mid-check
        return read_rows(conn)

    monkeypatch.setattr(audit.repo, "iter_audit_rows", rows_after_a_posting)
    with db.connect() as conn:
        result = verify_audit_chain(conn, AUDIT_KEY)
    assert result.ok, result.problems
    assert result.rows == 7  # the snapshot from before the posting
    monkeypatch.undo()
    with db.connect() as conn:
        assert verify_audit_chain(conn, AUDIT_KEY).rows == 8  # now with the posting
