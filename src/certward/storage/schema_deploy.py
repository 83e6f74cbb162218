"""Tables of issue 15's deploy work (revision 0007); on the shared Base."""

from __future__ import annotations
