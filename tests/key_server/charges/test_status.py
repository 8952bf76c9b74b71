"""The charge status rule (charges/status.py), as properties."""

from hypothesis import given
from hypothesis import strategies as st

from services.key_server.charges.status import ChargeStatus, Payment, decide_status

amounts = st.integers(min_value=1, max_value=2**53 - 1)
payments = st.lists(st.builds(Payment, amounts, st.booleans()), max_size=6)


def test_nothing_received():
    assert decide_status(100, [], expired=False) is ChargeStatus.PENDING
    assert decide_status(100, [], expired=True) is ChargeStatus.EXPIRED


@given(amounts, payments, st.booleans())
def test_only_confirmed_amounts_decide(expected, received, expired):
    status = decide_status(expected, received, expired=expired)
    confirmed = sum(p.amount for p in received if p.confirmed)
    if not received:
        assert status in (ChargeStatus.PENDING, ChargeStatus.EXPIRED)
    elif confirmed > expected:
        assert status is ChargeStatus.OVERPAID
    elif confirmed == expected:
        assert status is ChargeStatus.CONFIRMED
    elif expired and all(p.confirmed for p in received):
        assert status is ChargeStatus.UNDERPAID  # short at the expiry
    else:
        assert status is ChargeStatus.SEEN  # the rest may still come, or still confirm


@given(amounts, payments, st.data())
def test_confirming_more_never_undoes_a_settled_status(expected, received, data):
    before = decide_status(expected, received, expired=False)
    if before not in (ChargeStatus.CONFIRMED, ChargeStatus.OVERPAID) or not received:
        return
    index = data.draw(st.integers(min_value=0, max_value=len(received) - 1))
    more = [*received]
    more[index] = Payment(more[index].amount, True)
    after = decide_status(expected, more, expired=True)
    assert after in (ChargeStatus.CONFIRMED, ChargeStatus.OVERPAID)
