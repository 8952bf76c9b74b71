"""How the gateway reaches the payment core: in-process or over mTLS gRPC."""
