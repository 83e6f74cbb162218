"""Error codes: certificates."""

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

SMTP_DEFAULT_OVERWRITE = code(
    "smtp.default_overwrite",
    ConfirmationRequired,
    "Enabling SMTP would replace the server's default SMTP certificate: Exchange's question "
    "'Overwrite the existing default SMTP certificate?', answered with replace or keep.",
)
