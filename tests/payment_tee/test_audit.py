"""The HMAC-chained audit log detects edits, deletions and truncation."""

import uuid

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


# --- the journal held to the chains -------------------------------------------------------


def _every_kind_of_posting(core):
    """A transfer, an internal transfer, a credit, a charge and a partial refund."""
    from support.factories import main

    from services.payment_tee.core.commands import (
        ChargeCommand,
        RefundCommand,
        TransferCommand,
        TransferKind,
    )
    from services.payment_tee.core.records import AccountRef

    alice, bob = _activity(core)
    core.open_account(alice, "savings")
    core.transfer(
        TransferCommand(
            TransferKind.INTERNAL,
            main(alice),
            AccountRef(alice, "savings", "XMR"),
            700,
            "internal-1",
        )
    )
    charged = core.charge(ChargeCommand(main(alice), 2_000, "charge-1", "subscription", "b", "b"))
    core.refund(RefundCommand(uuid.UUID(charged.receipt.payment_id), 500, "refund-1", "b", "b"))
    return alice, bob


def _problems(db):
    with db.connect() as conn:
        return verify_audit_chain(conn, AUDIT_KEY).problems


def _account_id(db, owner, name="main"):
    with db.connect() as conn:
        return conn.execute(
            sa.text("SELECT id FROM ledger.accounts WHERE owner_id = :o AND name = :n"),
            {"o": owner, "n": name},
        ).scalar_one()


def test_every_kind_of_posting_matches_its_audit_row_and_lines(db, core):
    _every_kind_of_posting(core)
    with db.connect() as conn:
        kinds = conn.execute(sa.text("SELECT DISTINCT kind FROM ledger.entries")).scalars()
        assert set(kinds) == {"credit", "hub_routing", "internal_transfer", "charge", "refund"}
    assert _problems(db) == []


def test_money_minted_with_plain_inserts_is_detected(db, core):
    """The application's own database role can insert (the journal is append-only,
    not closed): a balanced entry from fee revenue to bob, and his cached balance
    raised to match, leave every audit chain intact."""
    _alice, bob = _every_kind_of_posting(core)
    bob_main = _account_id(db, bob)
    with db.begin() as conn:
        fee_account = conn.execute(
            sa.text("SELECT id FROM ledger.accounts WHERE name = 'fee_revenue'")
        ).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO ledger.entries (id, kind, idempotency_scope, idempotency_key, "
                "request_hash, asset, amount, fee, fee_bps, debit_account_id, credit_account_id, "
                "payee_owner_id, from_label, to_label, from_account, to_account, created_at, "
                "signer, signing_key, signature) VALUES (:id, 'credit', 'admin', 'minted', "
                "'\\x00', 'XMR', 1000000, 0, 0, :fee, :bob, :owner, 'platform:fee_revenue', "
                ":owner_label, 'fee_revenue', 'main', now(), 'gateway', 'k', 's')"
            ),
            {
                "id": uuid.uuid4(),
                "fee": fee_account,
                "bob": bob_main,
                "owner": bob,
                "owner_label": str(bob),
            },
        )
        entry_id = conn.execute(
            sa.text("SELECT id FROM ledger.entries WHERE idempotency_key = 'minted'")
        ).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO ledger.lines VALUES (:e, 1, :fee, -1000000), (:e, 2, :bob, 1000000)"
            ),
            {"e": entry_id, "fee": fee_account, "bob": bob_main},
        )
        conn.execute(
            sa.text("UPDATE ledger.accounts SET balance = balance + 1000000 WHERE id = :a"),
            {"a": bob_main},
        )
    assert _problems(db) == [f"entry {entry_id}: no audit row (posted outside the payment core)"]


def test_a_rewritten_amount_is_detected(db, core):
    _every_kind_of_posting(core)
    _tamper(db, "UPDATE ledger.entries SET amount = amount * 2 WHERE kind = 'refund'")
    problems = _problems(db)
    assert len(problems) == 2
    assert "does not match its audit row" in problems[0]
    assert "lines do not match its amounts" in problems[1]


def test_a_redirected_line_is_detected_even_with_the_balances_moved_along(db, core):
    alice, bob = _every_kind_of_posting(core)
    alice_main, bob_main = _account_id(db, alice), _account_id(db, bob)
    # alice's first payment to bob: 1,000 less her 10 bps (fee 1) is 999 for bob. The line
    # now pays alice instead, and both cached balances follow, so the books still balance.
    _tamper(
        db,
        f"UPDATE ledger.lines SET account_id = {alice_main} WHERE account_id = {bob_main} "
        f"AND entry_id = (SELECT id FROM ledger.entries WHERE kind = 'hub_routing' "
        f"AND credit_account_id = {bob_main} ORDER BY created_at LIMIT 1);"
        f"UPDATE ledger.accounts SET balance = balance - 999 WHERE id = {bob_main};"
        f"UPDATE ledger.accounts SET balance = balance + 999 WHERE id = {alice_main}",
    )
    problems = _problems(db)
    assert len(problems) == 1 and "lines do not match its amounts" in problems[0], problems


def test_a_raised_cached_balance_is_detected(db, core):
    _alice, bob = _every_kind_of_posting(core)
    bob_main = _account_id(db, bob)
    with db.begin() as conn:  # no trigger guards the cached balance: the role can do this
        conn.execute(
            sa.text("UPDATE ledger.accounts SET balance = balance + 1 WHERE id = :a"),
            {"a": bob_main},
        )
    (problem,) = _problems(db)
    assert problem.startswith(f"account {bob_main}: balance ") and "lines sum to" in problem


def test_an_audit_row_whose_entry_was_removed_is_detected(db, core):
    _every_kind_of_posting(core)
    _tamper(
        db,
        "DELETE FROM ledger.lines WHERE entry_id IN "
        "(SELECT id FROM ledger.entries WHERE kind = 'internal_transfer');"
        "DELETE FROM ledger.entries WHERE kind = 'internal_transfer'",
    )
    problems = _problems(db)
    assert any("which is not in the journal" in p for p in problems), problems


def test_charge_revenue_redirected_to_an_agent_account_is_detected(db, core):
    """Lines, balances and the audit row all agree; only the entry's credit side
    no longer names the revenue account its audit row's purpose implies."""
    _alice, bob = _every_kind_of_posting(core)
    bob_main = _account_id(db, bob)
    _tamper(
        db,
        f"UPDATE ledger.lines SET account_id = {bob_main} WHERE line_no = 2 AND entry_id = "
        "(SELECT id FROM ledger.entries WHERE kind = 'charge');"
        f"UPDATE ledger.entries SET credit_account_id = {bob_main}, to_account = 'main', "
        f"payee_owner_id = '{bob}' WHERE kind = 'charge';"
        # the refund of that charge is left alone: it still debits the revenue account
        f"UPDATE ledger.accounts SET balance = balance + 2000 WHERE id = {bob_main}",
    )
    problems = _problems(db)
    assert len(problems) == 2, problems  # the charge, and its refund (it no longer matches)
    assert all("does not match its audit row" in p for p in problems)


def test_an_account_handed_to_another_agent_is_detected(db, core):
    alice, bob = _every_kind_of_posting(core)
    _tamper(
        db,
        f"UPDATE ledger.accounts SET owner_id = '{bob}', name = 'from-alice' "
        f"WHERE owner_id = '{alice}' AND name = 'savings'",
    )
    (problem,) = _problems(db)  # the internal transfer into it
    assert "does not match its audit row" in problem


def test_a_tier_raised_without_the_core_is_detected(db, core):
    """Fees and limits follow the holder's tier; the app role can UPDATE it."""
    _alice, bob = _activity(core)  # alice was set to pro through the core (audited)
    assert _problems(db) == []
    with db.begin() as conn:
        conn.execute(
            sa.text("UPDATE ledger.holders SET tier = 'enterprise' WHERE owner_id = :o"),
            {"o": bob},
        )
    assert _problems(db) == [f"holder {bob}: tier enterprise but its audit chain last set free"]
    # Setting the same tier through the core writes nothing (the core reads the
    # stored tier): the finding stays until a tier change is recorded.
    core.set_tier(bob, Tier.ENTERPRISE, actor="test")
    assert len(_problems(db)) == 1
    core.set_tier(bob, Tier.FREE, actor="operator")  # the repair, through the core
    assert _problems(db) == []
