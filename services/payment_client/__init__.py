"""How a service reaches the payment core: in-process, or the TEE over mTLS gRPC.

Every service that moves money (gateway, billing, key_server) builds its
dispatcher here from the same settings, so PAYMENT_VIA_TEE, the fallback rule
and the attestation gate mean the same thing everywhere.
"""
