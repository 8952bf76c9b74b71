"""Billing's record of each agent's tier, and pushing it into the payment core."""
