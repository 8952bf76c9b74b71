"""Errors shared by every service; stdlib only (the payment TEE imports it)."""


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the service refuses to start."""
