"""The chain of waits, outermost longest: the SDK outwaits the gateway, which
outwaits billing's wait for an agent's lock. Reversed anywhere, the outer side
gives up first and the inner answer (`agent_busy` with its Retry-After, or a
slow upgrade's result) is replaced by a misleading timeout or
`billing_unavailable` while the work goes on behind it."""

import inspect

from sealpay import SealpayClient

from services.billing.settings import BillingSettings
from services.gateway.settings import GatewaySettings


def test_each_side_waits_longer_than_the_one_it_calls():
    sdk = inspect.signature(SealpayClient.__init__).parameters["timeout"].default
    gateway = GatewaySettings.model_fields["gateway_internal_timeout_seconds"].default
    billing = BillingSettings.model_fields["billing_lock_timeout_seconds"].default
    assert sdk > gateway > billing, (sdk, gateway, billing)
