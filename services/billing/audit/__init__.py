"""The billing audit trail: one append-only row per state change."""
