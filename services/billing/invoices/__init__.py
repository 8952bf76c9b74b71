"""Invoices, their lines and the rate audit; their charge in the payment core."""
