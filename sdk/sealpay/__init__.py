"""Sealpay Python SDK."""
