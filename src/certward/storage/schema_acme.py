"""Tables of issue 15's acme work (revision 0006); on the shared Base."""

from __future__ import annotations
