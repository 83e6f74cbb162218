"""Error codes: the web service (``certward web``): the certificate it serves with."""

from certward.errors import EndpointError, NotFoundError, code

WEB_NO_IIS_CERTIFICATE = code(
    "web.no_iis_certificate",
    NotFoundError,
    "The server has no certificate with a private key enabled for IIS to serve the console with.",
)
WEB_NO_SERVER = code(
    "web.no_server",
    NotFoundError,
    "No server certward runs has a certificate enabled for IIS to serve the console with.",
)
WEB_LISTEN_FAILED = code(
    "web.listen_failed",
    EndpointError,
    "The web service could not listen on the address and port asked for.",
)
