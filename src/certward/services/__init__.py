"""Use cases as transactions over the store (the organisation's certificate lifecycle)."""

from certward.services.lifecycle import Lifecycle

__all__ = ["Lifecycle"]
