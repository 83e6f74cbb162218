"""The health rules: each a pure function of an organisation snapshot and ``now``.

Thresholds follow Microsoft's HealthChecker.ps1 where it has them (certificate lifetime:
error under 30 days, warning under 60; SHA-1 signatures; RSA keys under 2048 bits).
Importing this package registers every rule in :data:`certward.health.findings.RULES`;
one module per area.
"""

from certward.health.rules import (  # noqa: F401 - importing registers the rules
    acme,
    auth,
    certificates,
    connectors,
    consistency,
    deploy,
    edge,
    iis,
    names,
    registry,
    roots,
    selfsigned,
    transport,
)
