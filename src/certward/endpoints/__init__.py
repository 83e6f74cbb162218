"""Live TLS endpoints (Twisted + pyOpenSSL); ``selection`` is pure and has no I/O."""
