"""A subscription's invoices are found by index, not by reading every invoice."""

import uuid

from support.plans import plan

from services.billing.invoices import repository as invoices


def test_a_subscriptions_open_and_paid_invoices_are_read_by_index(db):
    sub = uuid.uuid4()
    for sql, params in (
        (invoices.OPEN_FOR_SUBSCRIPTION, (sub,)),
        (invoices.PAID_IN_CYCLE, (sub, 3)),
    ):
        found = plan(db, sql, params)
        assert "ix_invoices_subscription_id_cycle" in found, found
        assert "Seq Scan" not in found, found
