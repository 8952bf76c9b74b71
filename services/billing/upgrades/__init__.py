"""Upgrade quotes and upgrades with proration."""
