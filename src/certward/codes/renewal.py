"""Error codes: renewal."""

from certward.errors import (  # noqa: F401  (each code names its kind)
    ConfirmationRequired,
    EndpointError,
    InputError,
    InteropError,
    NotFoundError,
    PkiError,
    ProbeError,
    StoreError,
    code,
)

RENEWAL_CERTIFICATE_UNKNOWN = code(
    "renewal.certificate_unknown",
    NotFoundError,
    "No server of the organisation holds a certificate with that thumbprint.",
)
RENEWAL_NOT_ON_SERVER = code(
    "renewal.not_on_server",
    StoreError,
    "The certificate to renew is not on the server named for the new request.",
)
RENEWAL_REPLY_UNEXPECTED = code(
    "renewal.reply_unexpected",
    StoreError,
    "The certificate is self-signed: its renewal needs no CA reply.",
)
RENEWAL_REPLY_REQUIRED = code(
    "renewal.reply_required",
    StoreError,
    "The certificate is CA-issued: completing its renewal needs the CA's reply to the renewal "
    "request.",
)
RENEWAL_KEY_NOT_EXPORTABLE = code(
    "renewal.key_not_exportable",
    StoreError,
    "The new key is not exportable, so the renewed certificate cannot be put on the other "
    "servers that hold the old one.",
)
RENEWAL_REPLY_DIFFERS = code(
    "renewal.reply_differs",
    PkiError,
    "The CA reply's subject or names differ from the certificate being renewed.",
)
RENEWAL_NO_REQUEST = code(
    "renewal.no_request",
    PkiError,
    "No pending renewal request matches the CA reply (its key is none of theirs).",
)
