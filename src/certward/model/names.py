"""What a name may hold where it enters certward (pure; each check raises ``ValueError``
with a one-line message, which the services turn into their coded errors).

Names become Maildir and log directories, EMS commands and certward command lines, so
they are checked at the door with Exchange's own rules where they are known:

- **Server names** are the computer's NetBIOS name, which is also the first label of its
  DNS name: 1-15 letters, digits or ``-``, neither starting nor ending with ``-``, not
  digits only. Windows allows a longer DNS host name, but Exchange setup refuses a
  computer whose NetBIOS name differs from its host name (the 15-character limit
  truncates the NetBIOS name), and ``Get-ExchangeServer`` shows the NetBIOS name; so 15
  is the limit. ``_`` (a NetBIOS character Windows warns about, invalid in DNS) is refused.
- **Mailbox addresses** are ``local@domain`` with an RFC 5321 dot-atom local part
  (atext characters and single dots, 64 at most); the domain is an accepted domain. No
  ``/``, ``\\``, NUL, control character or space can pass.
- **Connector names** are Exchange's ``Name`` parameter: 1-64 characters, no control
  character and no ``\\`` (the separator of ``SERVER\\Name``); leading or trailing space
  is refused (Exchange trims it, so the name would not be the one given).
- **Friendly names** (256 at most) and **Edge site names** (64, as an AD site's name):
  not blank, no control character.
"""

from __future__ import annotations

import re

SERVER_NAME_MAX = 15
CONNECTOR_NAME_MAX = 64
LOCAL_PART_MAX = 64
FRIENDLY_NAME_MAX = 256
SITE_NAME_MAX = 64

_NETBIOS = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,13}[A-Za-z0-9])?")
# RFC 5322 atext: letters, digits and !#$%&'*+-/=?^_`{|}~ ... less "/" (a path separator)
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-=?^_`{|}~]+"
_DOT_ATOM = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")


def has_control(text: str) -> bool:
    """True when ``text`` holds a control character (C0, DEL, C1) or a line/paragraph
    separator, any of which could end a line of a generated script or log."""
    return any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in text)


def check_server_name(name: str) -> str:
    """A server's name (NetBIOS rules, above), unchanged."""
    if not _NETBIOS.fullmatch(name) or name.isdigit():
        raise ValueError(
            f"invalid server name {name!r}: a NetBIOS name of 1-{SERVER_NAME_MAX} letters, "
            "digits or '-' (not at either end, not digits only)"
        )
    return name


def check_local_part(local: str) -> str:
    """The part of a mail address before ``@``: an RFC 5321 dot-atom without ``/``."""
    if len(local) > LOCAL_PART_MAX or not _DOT_ATOM.fullmatch(local):
        raise ValueError(
            f"invalid mailbox local part {local!r}: letters, digits and "
            f"!#$%&'*+-=?^_`{{|}}~ in dot-separated words, {LOCAL_PART_MAX} at most"
        )
    return local


def check_connector_name(name: str) -> str:
    """A Send or Receive connector's name (Exchange's rules, above), unchanged."""
    if (
        not name.strip()
        or name != name.strip()
        or "\\" in name
        or has_control(name)
        or len(name) > CONNECTOR_NAME_MAX
    ):
        raise ValueError(
            f"invalid connector name {name!r}: 1-{CONNECTOR_NAME_MAX} characters, no "
            "backslash, no control character, no space at either end"
        )
    return name


def check_label(what: str, text: str, limit: int) -> str:
    """A free-text name (friendly name, site): not blank, no control character."""
    if not text.strip() or has_control(text) or len(text) > limit:
        raise ValueError(f"invalid {what} {text!r}: 1-{limit} characters, no control character")
    return text
