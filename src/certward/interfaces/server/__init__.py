"""The web service (``certward web``): one process serving the REST API, the console and
``/metrics`` over HTTPS with a certificate from certward's own store, and running the
scheduler of checks, probes and notifications."""

from certward.interfaces.server.app import SECURITY_HEADERS, create_app
from certward.interfaces.server.runner import serve
from certward.interfaces.server.settings import DEFAULT_HOST, DEFAULT_PORT, WebSettings

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "SECURITY_HEADERS", "WebSettings", "create_app", "serve"]
