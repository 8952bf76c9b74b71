"""Outgoing webhooks: outbox, Standard Webhooks signatures, retries, replays."""
