"""Every stable error code certward raises, one module per area.

A code is registered once, here, and never renamed: scripts and API clients test it.
Raise the error by calling the code (see :mod:`certward.errors`). ``docs/errors.md`` is
generated from these modules (``certward errors --markdown``).
"""

from certward.codes import (  # noqa: F401  (each module registers its codes)
    access,
    acme,
    acme_dns,
    agents,
    api,
    auth,
    certificates,
    clixml,
    collection,
    connectors,
    console,
    deploy,
    edge,
    endpoints,
    general,
    interop,
    keys,
    pki,
    probe,
    renewal,
    watch,
    web,
)
