"""ACME (RFC 8555) client adapters on certbot's ``acme`` library: accounts, orders, challenge
solvers (HTTP-01, DNS-01 by RFC 2136, TLS-ALPN-01) and renewal timing (ARI, RFC 9773)."""
