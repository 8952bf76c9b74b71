"""Subscriptions: their rows, shared state changes, and the tier read model."""
