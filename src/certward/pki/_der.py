"""Just enough DER to find a certificate's parts without parsing the certificate (issue 16).

Strict: an element that DER would not encode this way (a long tag, an indefinite or
non-minimal length, one that runs past its container) is None, and the caller reads the
part with cryptography instead. Nothing here decides what a certificate says.
"""

from __future__ import annotations


def tlv(data: bytes, at: int, end: int) -> tuple[int, int, int] | None:
    """The tag, content start and content end of the element at ``at``, which must end by
    ``end``; None when there is no such DER element."""
    if at + 2 > end:
        return None
    tag = data[at]
    if tag & 0x1F == 0x1F:  # a long tag
        return None
    length = data[at + 1]
    start = at + 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or start + count > end or data[start] == 0:
            return None
        length = int.from_bytes(data[start : start + count], "big")
        if length < 0x80:  # DER uses the short form for these
            return None
        start += count
    stop = start + length
    return (tag, start, stop) if stop <= end else None


def oid(dotted: str) -> bytes:
    """The DER encoding (tag and length included) of the object identifier ``dotted``."""
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray()
    for arc in (40 * arcs[0] + arcs[1], *arcs[2:]):
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return bytes([0x06, len(body)]) + bytes(body)
