"""HTTPS for the web service with the certificate certward's own store holds for a
server's IIS, chosen as the live IIS endpoint chooses it (:func:`select_iis`).

The console's certificate is therefore managed, renewed and health-checked like any
other: enabling another certificate for IIS on that server changes what the next TLS
handshake presents, without a restart. The standard ``ssl`` module loads keys only from
files, so the key is written to a 0600 file in a private temporary directory, encrypted
(PKCS#8) under a random passphrase that exists only in memory, and removed once loaded;
no byte of the key is on disk unencrypted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import types

from certward.codes.web import WEB_NO_IIS_CERTIFICATE, WEB_NO_SERVER
from certward.pki.selection import select_iis

if TYPE_CHECKING:
    from cryptography import x509

    from certward.compose import App
    from certward.endpoints.snapshot import EndpointSnapshot, Reloader

_VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True)
class IisCertificate:
    """What the console presents: the server's IIS certificate, its key and chain, and
    the server's TLS protocol policy."""

    server: str
    thumbprint: str
    certificate: x509.Certificate
    key: types.PrivateKeyTypes = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()
    min_version: str = "1.2"
    max_version: str = "1.3"


def iis_certificate(snapshot: EndpointSnapshot, now: dt.datetime) -> IisCertificate | None:
    """The certificate ``snapshot``'s server presents for IIS (None: none is enabled)."""
    chosen = select_iis(snapshot.candidates, now=now).chosen
    if chosen is None or chosen.thumbprint not in snapshot.keys:
        return None
    config = snapshot.server_tls(chosen)
    return IisCertificate(
        server=snapshot.server.name,
        thumbprint=str(chosen.thumbprint),
        certificate=config.certificate,
        key=config.key,
        chain=tuple(config.chain),
        min_version=config.min_version,
        max_version=config.max_version,
    )


def ssl_context(iis: IisCertificate) -> ssl.SSLContext:
    """A server context presenting ``iis`` (HTTP/1.1 by ALPN)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS.get(iis.min_version, ssl.TLSVersion.TLSv1_2)
    context.maximum_version = _VERSIONS.get(iis.max_version, ssl.TLSVersion.TLSv1_3)
    if iis.min_version in ("1.0", "1.1"):
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 refuses them otherwise
    context.set_alpn_protocols(["http/1.1"])
    passphrase = secrets.token_bytes(32)
    pem = b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in (iis.certificate, *iis.chain)
    ) + iis.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    with tempfile.TemporaryDirectory(prefix="certward-web-") as directory:  # mode 0700
        path = Path(directory) / "iis.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
        try:
            context.load_cert_chain(path, password=passphrase)
        finally:
            path.unlink(missing_ok=True)
    return context


def choose_server(app: App, wanted: str | None, now: dt.datetime) -> IisCertificate:
    """The IIS certificate of ``wanted``, else of the first server certward runs that has
    one (by name)."""
    from certward.services.endpoints import load_snapshot

    if wanted is not None:
        found = iis_certificate(load_snapshot(app.store, wanted), now)
        if found is None:
            raise WEB_NO_IIS_CERTIFICATE(
                f"server {wanted}: no certificate with a private key is enabled for IIS",
                server=wanted,
            )
        return found
    for summary in sorted(app.organisation.servers(), key=lambda s: s.server.name.lower()):
        if summary.server.observed:
            continue
        found = iis_certificate(load_snapshot(app.store, summary.server.name), now)
        if found is not None:
            return found
    raise WEB_NO_SERVER("no server certward runs has a certificate enabled for IIS")


class LiveTls:
    """The listening context, and the context of the IIS certificate as the store holds it
    now: each handshake is switched (by its SNI callback, which OpenSSL runs for every
    ClientHello) to the current one. ``refresh`` reads the store again when it changed.

    A switched handshake keeps the protocol versions of the first context: a change of the
    server's TLS policy applies at the next start."""

    def __init__(self, reloader: Reloader, now: Callable[[], dt.datetime]) -> None:
        self._reloader = reloader
        self._now = now
        self._lock = threading.Lock()
        snapshot = reloader.poll()
        assert snapshot is not None  # the first poll always loads
        first = iis_certificate(snapshot, now())
        if first is None:
            name = snapshot.server.name
            raise WEB_NO_IIS_CERTIFICATE(
                f"server {name}: no certificate with a private key is enabled for IIS",
                server=name,
            )
        self.current: IisCertificate = first
        self.listening = ssl_context(first)
        self._context = self.listening
        self.listening.sni_callback = self._switch
        self.changes = 0

    @property
    def server(self) -> str:
        return self.current.server

    def _switch(self, connection: ssl.SSLObject, _name: str | None, _ctx: ssl.SSLContext) -> None:
        context = self._context
        if context is not self.listening:
            connection.context = context
        return None

    def refresh(self) -> bool:
        """Read the store if it changed; True when the certificate presented changed. A
        server left with no IIS certificate keeps presenting the last one."""
        with self._lock:
            snapshot = self._reloader.poll()
            if snapshot is None:
                return False
            found = iis_certificate(snapshot, self._now())
            if found is None or found.thumbprint == self.current.thumbprint:
                return False
            context = ssl_context(found)
            with contextlib.suppress(AttributeError):
                context.sni_callback = None
            self.current, self._context = found, context
            self.changes += 1
            return True
