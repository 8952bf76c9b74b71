"""Downgrades at period end, or immediately with a refund of the unused part."""
