"""The internal per-agent API the gateway calls, and the workflows behind it."""
