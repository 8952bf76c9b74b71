"""Renewals: the periodic sweep, retries with backoff, grace and lapse."""
