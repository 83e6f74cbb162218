"""Error kinds of :mod:`certward.pki`'s pure checks: certward errors that are ValueErrors too.

A value given to a check (a domain name, a key size, a subject name, a key-provider name)
that breaks Exchange's rules is the caller's input (an :class:`InputError`). It is also a
``ValueError``, as cryptography's own checks are, so that a caller which validates a value
before use keeps catching ``ValueError``.
"""

from __future__ import annotations

from certward.errors import InputError


class InvalidValue(InputError, ValueError):
    """A value that breaks one of Exchange's rules for it."""


class NameSyntaxError(InvalidValue):
    """A distinguished-name string that Exchange would not accept either."""
