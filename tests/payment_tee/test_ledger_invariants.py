"""Property test: any sequence of postings keeps every invariant of double entry."""

import contextlib
import uuid

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.factories import books, fund, main, make_core

from services.payment_tee.core.commands import TransferCommand, TransferKind
from services.payment_tee.core.errors import PaymentError
from services.payment_tee.core.records import AccountRef
from services.payment_tee.core.tiers import Tier

HOLDERS = 4

operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("pay"),
            st.integers(0, HOLDERS - 1),
            st.integers(0, HOLDERS - 1),
            st.integers(1, 400_000),
        ),
        st.tuples(st.just("credit"), st.integers(0, HOLDERS - 1), st.integers(1, 300_000)),
        st.tuples(st.just("save"), st.integers(0, HOLDERS - 1), st.integers(1, 100_000)),
        st.tuples(st.just("tier"), st.integers(0, HOLDERS - 1), st.sampled_from(list(Tier))),
    ),
    min_size=1,
    max_size=25,
)


def _reset(engine):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "TRUNCATE ledger.audit_log, ledger.lines, ledger.entries, ledger.monthly_counters, "
                "ledger.accounts, ledger.holders CASCADE"
            )
        )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_any_sequence_of_postings_balances(db, ops):
    _reset(db)
    core = make_core(db)
    try:
        owners = [uuid.uuid4() for _ in range(HOLDERS)]
        for owner in owners:
            core.register_holder(owner)
            core.open_account(owner, "savings")
        for op in ops:
            # Refusals are fine; they must simply change nothing.
            with contextlib.suppress(PaymentError):
                _apply(core, owners, op)
            books(db).assert_balanced()
    finally:
        core.close()


def _apply(core, owners, op):
    kind = op[0]
    if kind == "pay":
        _, a, b, amount = op
        core.transfer(
            TransferCommand(
                TransferKind.HUB_ROUTING, main(owners[a]), main(owners[b]), amount, uuid.uuid4().hex
            )
        )
    elif kind == "credit":
        fund(core, owners[op[1]], op[2])
    elif kind == "save":
        owner = owners[op[1]]
        core.transfer(
            TransferCommand(
                TransferKind.INTERNAL,
                main(owner),
                AccountRef(owner, "savings", "XMR"),
                op[2],
                uuid.uuid4().hex,
            )
        )
    else:
        core.set_tier(owners[op[1]], op[2], actor="test")
