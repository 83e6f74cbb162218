"""X.509 operations on pyca/cryptography: bytes in, objects out, no I/O, ``now`` passed in."""
