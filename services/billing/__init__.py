"""Billing: plans, quotes and proration, subscriptions and renewals, exchange rates,
signed outgoing webhooks. See docs/billing.md."""
