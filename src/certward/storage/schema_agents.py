"""Tables of issue 15's agents work (revision 0008); on the shared Base."""

from __future__ import annotations
