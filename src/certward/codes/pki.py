"""Error codes: pki."""

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
