"""The payment core: a double-entry ledger with transfers, fees, limits and receipts.

Plain Python over SQLAlchemy Core, no web framework, so that the gRPC server in
the Confidential VM and the gateway's in-process fallback run the very same
functions. Entry point for both adapters: `services.payment_tee.core.api.PaymentCore`.
"""
