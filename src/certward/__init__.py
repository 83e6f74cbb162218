"""certward: the certificate subsystem of an Exchange-style organisation, as open software."""

__version__ = "0.1.0"

__all__ = ["__version__"]
