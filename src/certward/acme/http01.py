"""HTTP-01 (RFC 8555 section 8.3): the key authorization at
``http://NAME/.well-known/acme-challenge/TOKEN``.

Answered by certward's own IIS endpoint when ``certward serve`` listens on the port: the key
authorization is published in the store (:class:`certward.acme.solvers.PendingChallenges`),
the endpoint reloads on the store's change and answers it. When nothing listens on the port,
a short-lived listener (the ``acme`` library's own :mod:`acme.standalone` HTTP-01 server)
answers instead and is shut down when the last challenge is cleaned up.

Options: ``port`` (default 80), ``address`` to listen on (default all), ``mode``: ``auto``
(default: the endpoint if something listens on the port, else a listener), ``endpoint`` or
``listener``; ``check-host`` (default 127.0.0.1) where readiness is checked.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Mapping
from typing import ClassVar

from josepy import jwk as jose

from acme import challenges, standalone
from certward.acme.solvers import HTTP01, PendingChallenges, SolverContext, int_option, option
from certward.codes.acme import ACME_SOLVER_FAILED, ACME_SOLVER_SETTINGS

MODES = ("auto", "endpoint", "listener")
OPTIONS = ("port", "address", "mode", "check-host")
_POLL = 0.1


class Http01Solver:
    kind: ClassVar[str] = HTTP01

    def __init__(
        self,
        *,
        port: int = 80,
        address: str = "",
        mode: str = "auto",
        check_host: str = "127.0.0.1",
        pending: PendingChallenges | None = None,
        timeout: float = 30.0,
    ) -> None:
        if mode not in MODES:
            raise ACME_SOLVER_SETTINGS(
                f"the http-01 challenge solver's mode is one of {', '.join(MODES)}, not {mode!r}",
                kind=HTTP01,
                option="mode",
            )
        if not 0 < port < 65536:
            raise ACME_SOLVER_SETTINGS(
                f"the http-01 challenge solver's port {port} is not a TCP port",
                kind=HTTP01,
                option="port",
            )
        self.port = port
        self.address = address
        self.mode = mode
        self.check_host = check_host
        self._pending = pending
        self._timeout = timeout
        self._lock = threading.Lock()
        self._resources: set[standalone.HTTP01RequestHandler.HTTP01Resource] = set()
        self._server: standalone.BaseDualNetworkedServers | standalone.HTTP01Server | None = None
        self._thread: threading.Thread | None = None
        self._published: set[str] = set()  # tokens answered by the IIS endpoint
        self._auto: str | None = None  # what mode "auto" chose for this solver

    @classmethod
    def from_settings(cls, options: Mapping[str, str], context: SolverContext) -> Http01Solver:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ACME_SOLVER_SETTINGS(
                f"the http-01 challenge solver has no option {unknown[0]!r} "
                f"(it has {', '.join(OPTIONS)})",
                kind=HTTP01,
                option=unknown[0],
            )
        return cls(
            port=int_option(options, "port", HTTP01, 80),
            address=option(options, "address", HTTP01, ""),
            mode=option(options, "mode", HTTP01, "auto"),
            check_host=option(options, "check-host", HTTP01, "127.0.0.1"),
            pending=context.pending,
            timeout=context.timeout,
        )

    # -- the contract -----------------------------------------------------------------------
    def perform(
        self, domain: str, challenge: challenges.KeyAuthorizationChallenge, account_key: jose.JWK
    ) -> None:
        if not isinstance(challenge, challenges.HTTP01):
            raise ACME_SOLVER_FAILED(
                f"the http-01 solver cannot answer a {challenge.typ} challenge", domain=domain
            )
        key_authorization = challenge.validation(account_key)
        mode = self.mode
        if mode == "auto":  # decided once: the second name must not find our own listener
            if self._auto is None:
                self._auto = "endpoint" if self._listening() else "listener"
            mode = self._auto
        use_endpoint = mode == "endpoint"
        if use_endpoint:
            self._publish(domain, challenge, key_authorization)
        else:
            self._listen(domain, challenge, account_key, key_authorization)

    def cleanup(
        self, domain: str, challenge: challenges.KeyAuthorizationChallenge, account_key: jose.JWK
    ) -> None:
        token = challenge.encode("token")
        if token in self._published and self._pending is not None:
            self._published.discard(token)
            self._pending.withdraw(token)
            return
        with self._lock:
            # the listener's handlers read this very set: change its content, keep the object
            for resource in [r for r in self._resources if r.chall == challenge]:
                self._resources.discard(resource)
            if not self._resources:
                self._stop()

    # -- the IIS endpoint -------------------------------------------------------------------
    def _listening(self) -> bool:
        try:
            with socket.create_connection((self.check_host, self.port), timeout=2):
                return True
        except OSError:
            return False

    def _publish(self, domain: str, challenge: challenges.HTTP01, key_authorization: str) -> None:
        if self._pending is None:
            raise ACME_SOLVER_FAILED(
                "the http-01 challenge cannot be answered by certward's IIS endpoint here "
                "(no store to publish it in)",
                domain=domain,
            )
        token = challenge.encode("token")
        self._pending.publish(token, key_authorization, domain)
        self._published.add(token)
        deadline = time.monotonic() + self._timeout
        while True:
            if self._answer(domain, challenge.path) == key_authorization:
                return
            if time.monotonic() > deadline:
                self._published.discard(token)
                self._pending.withdraw(token)
                raise ACME_SOLVER_FAILED(
                    f"port {self.port} on {self.check_host} does not answer the http-01 "
                    f"challenge for {domain} within {self._timeout:.0f} s (is it certward's "
                    "IIS endpoint, certward serve, with this store?)",
                    domain=domain,
                    port=self.port,
                )
            time.sleep(_POLL)

    def _answer(self, domain: str, path: str) -> str | None:
        connection = http.client.HTTPConnection(self.check_host, self.port, timeout=5)
        try:
            connection.request("GET", path, headers={"Host": domain})
            response = connection.getresponse()
            body = response.read()
            return body.decode("ascii", errors="replace") if response.status == 200 else None
        except OSError:
            return None
        finally:
            connection.close()

    # -- the short-lived listener -----------------------------------------------------------
    def _listen(
        self,
        domain: str,
        challenge: challenges.HTTP01,
        account_key: jose.JWK,
        key_authorization: str,
    ) -> None:
        response = challenge.response(account_key)
        resource = standalone.HTTP01RequestHandler.HTTP01Resource(
            chall=challenge, response=response, validation=key_authorization
        )
        with self._lock:
            self._resources.add(resource)
            if self._server is None:
                self._start(domain)

    def _start(self, domain: str) -> None:
        try:
            if self.address in ("", "::"):
                self._server = standalone.HTTP01DualNetworkedServers(
                    (self.address, self.port), self._resources
                )
            else:
                self._server = standalone.HTTP01Server(
                    (self.address, self.port), self._resources, ipv6=":" in self.address
                )
        except OSError as exc:
            raise ACME_SOLVER_FAILED(
                f"cannot listen on port {self.port} to answer the http-01 challenge for "
                f"{domain} ({exc.strerror or exc})",
                domain=domain,
                port=self.port,
            ) from exc
        if isinstance(self._server, standalone.HTTP01Server):
            # Polled every 50 ms for a shutdown (socketserver's default, 0.5 s, was up to
            # half a second more per order, the listener being stopped after each).
            server = self._server
            self._thread = threading.Thread(
                target=lambda: server.serve_forever(poll_interval=0.05),
                name="certward-http01",
                daemon=True,
            )
            self._thread.start()
        else:
            self._server.serve_forever()

    def _stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        if isinstance(server, standalone.HTTP01Server):
            server.shutdown()
            server.server_close()
            if self._thread is not None:
                self._thread.join()
                self._thread = None
        else:
            server.shutdown_and_server_close()

    def close(self) -> None:
        with self._lock:
            self._resources.clear()
            self._stop()
