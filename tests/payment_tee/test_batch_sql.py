"""The batch engine's SQL: plans that probe by key, and literals that carry any value
exactly (the batch statements are called with SQL literals, see sql_literals.py)."""

import asyncio
import json
import uuid
from datetime import UTC, date, datetime

import psycopg
import pytest
import sqlalchemy as sa
from support.factories import books, new_holder, pay

from services.common.database import libpq_url
from services.payment_tee.core import batch_repository as batch_repo
from services.payment_tee.core import sql_literals as lit
from services.payment_tee.core.api import BATCH_SESSION_OPTIONS
from services.payment_tee.core.errors import InvalidRequest

TRICKY = [
    "plain",
    "it's",
    "O''Reilly",
    "back\\slash",
    "\\x41",
    "E'\\047'",
    "$$dollar$$",
    "-- comment",
    "'); DROP TABLE ledger.entries; --",
    "line\nbreak\ttab",
    "ünïcødé 🚀 中文",
]


def _batch_connection(url: str) -> psycopg.Connection:
    return psycopg.connect(libpq_url(url), autocommit=True, options=BATCH_SESSION_OPTIONS)


def _explain(url: str, statement: batch_repo.Prepared, args: dict[str, str]) -> str:
    async def run() -> str:
        conn = await psycopg.AsyncConnection.connect(
            libpq_url(url), autocommit=True, options=BATCH_SESSION_OPTIONS
        )
        try:
            await batch_repo.prepare_session(conn)
            cur = await conn.execute(f"EXPLAIN {statement.call(args)}".encode())
            return "\n".join(row[0] for row in await cur.fetchall())
        finally:
            await conn.close()

    return asyncio.run(run())


def test_batch_statements_look_rows_up_by_key_never_by_scanning(db, core):
    # A few rows everywhere, so the planner has tables (small ones tempt it to scan).
    alice, bob = new_holder(core, balance=100_000), new_holder(core)
    pay(core, alice, bob, 1_000)
    url = db.url.render_as_string(hide_password=False)
    owner = lit.uuid_array([alice])
    plans = {
        "lock": _explain(url, batch_repo.LOCK_HOLDERS, {"owners": owner}),
        "load": _explain(
            url,
            batch_repo.LOAD_UNDER_LOCKS,
            {
                "refs": lit.text(
                    json.dumps([{"owner_id": str(alice), "name": "main", "asset": "XMR"}])
                ),
                "owners": owner,
                "month": lit.day(date(2026, 3, 1)),
                "keys": lit.text(json.dumps([{"scope": "s", "key": "k"}])),
                "charges": owner,
                "cancel_keys": lit.text(json.dumps([{"scope": "s", "key": "k"}])),
            },
        ),
        "write": _explain(
            url,
            batch_repo.WRITE_BATCH,
            {
                "entries": "'[]'",
                "lines": "'[]'",
                "ids": lit.int_array([1]),
                "deltas": lit.int_array([5]),
                "seqs": lit.int_array([None]),
                "heads": lit.hex_array([None]),
                "counters": "'[]'",
                "audit": "'[]'",
                "now": lit.instant(datetime(2026, 3, 1, tzinfo=UTC)),
                "tier_owners": owner,
                "tiers": lit.word_array(["pro"]),
                "cancelled": "'[]'",
            },
        ),
    }
    for name, plan in plans.items():
        assert "Seq Scan" not in plan, f"{name} scans a table:\n{plan}"
        assert "Hash Join" not in plan, f"{name} hashes a table:\n{plan}"
        assert "Index" in plan, f"{name} uses no index:\n{plan}"


@pytest.mark.parametrize("value", TRICKY)
def test_text_literals_carry_any_string_exactly(db, value):
    with _batch_connection(db.url.render_as_string(hide_password=False)) as conn:
        assert conn.execute(f"SELECT {lit.text(value)}").fetchone() == (value,)
        doc = {"memo": value, "nested": [value]}
        got = conn.execute(f"SELECT {lit.text(json.dumps(doc))}::json").fetchone()
        assert got == (doc,)


def test_array_literals_hold_their_values(db):
    ids = [uuid.uuid4(), uuid.uuid4()]
    heads = lit.hex_array([b"\x00\xff", None])
    columns = [
        f"{lit.uuid_array(ids)}::uuid[]",
        f"{lit.int_array([1, None, -(2**62)])}::bigint[]",
        f"(SELECT array_agg(decode(h, 'hex')) FROM unnest({heads}::text[]) h)",
        f"{lit.word_array(['free', 'pro'])}::text[]",
        f"{lit.day(date(2026, 2, 28))}::date",
        f"{lit.instant(datetime(2026, 2, 28, 23, 59, tzinfo=UTC))}::timestamptz",
    ]
    with _batch_connection(db.url.render_as_string(hide_password=False)) as conn:
        row = conn.execute(f"SELECT {', '.join(columns)}").fetchone()
    assert row == (
        ids,
        [1, None, -(2**62)],
        [b"\x00\xff", None],
        ["free", "pro"],
        date(2026, 2, 28),
        datetime(2026, 2, 28, 23, 59, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("build", "value"),
    [
        (lit.text, "nul\x00byte"),
        (lit.text, b"bytes"),
        (lit.uuid_array, ["not-a-uuid"]),
        (lit.int_array, [True]),
        (lit.int_array, ["1"]),
        (lit.hex_array, ["00"]),
        (lit.word_array, ["Pro"]),
        (lit.word_array, ["pro}'; --"]),
        (lit.day, datetime(2026, 1, 1)),
        (lit.instant, datetime(2026, 1, 1)),
    ],
)
def test_literals_refuse_what_they_cannot_carry(build, value):
    with pytest.raises((TypeError, ValueError)):
        build(value)


@pytest.mark.parametrize("memo", TRICKY)
def test_a_memo_that_looks_like_sql_posts_verbatim(db, core, memo):
    alice, bob = new_holder(core, balance=100_000), new_holder(core)
    result = pay(core, alice, bob, 10_000, memo=memo)
    assert result.receipt.memo == memo
    with db.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT memo FROM ledger.entries WHERE id = :id"),
            {"id": result.receipt.payment_id},
        ).scalar_one()
        tables = conn.execute(
            sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'ledger'")
        ).scalar_one()
    assert stored == memo
    assert tables >= 6
    assert core.balance(alice).available == 90_000
    books(db).assert_balanced()


def test_a_memo_with_nul_is_refused_before_it_reaches_sql(db, core):
    alice, bob = new_holder(core, balance=100_000), new_holder(core)
    with pytest.raises(InvalidRequest):
        pay(core, alice, bob, 10_000, memo="nul\x00")
    assert core.balance(alice).available == 100_000


def test_a_lost_batch_connection_is_reopened_with_its_statements(db, core):
    alice, bob = new_holder(core, balance=100_000), new_holder(core)
    pay(core, alice, bob, 1_000)  # opens the batch connection, prepares its statements
    with db.connect() as conn:
        killed = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'sealpay-payment-core' "
                "AND datname = current_database()"
            )
        ).scalar_one()
    assert killed == 1
    result = pay(core, alice, bob, 2_000)  # fails on the dead connection, retried on a new one
    assert (result.receipt.amount, result.receipt.fee) == (2_000, 6)
    assert core.balance(alice).available == 97_000
    assert core.balance(bob).available == 997 + 1_994
    books(db).assert_balanced()
