"""Error codes: probe.

The prober judges servers; what a server does wrong is a finding in the report, never one
of these errors. These are what the caller gives that cannot be used (``InputError``) and
the prober failing to judge at all (``ProbeError``).
"""

from certward.errors import InputError, ProbeError, code

PROBE_NO_TARGET = code("probe.no_target", InputError, "No target was given: nothing to probe.")
PROBE_TARGET_INVALID = code(
    "probe.target_invalid",
    InputError,
    "A target is neither a URL of a protocol the prober speaks (smtp, smtps, imap, imaps, "
    "pop3, pop3s, https) with a host and a valid port, nor a mail domain.",
)
PROBE_TARGETS_UNREADABLE = code(
    "probe.targets_unreadable", InputError, "The list of targets cannot be read."
)
PROBE_ROOTS_INVALID = code(
    "probe.roots_invalid",
    InputError,
    "The trust anchors cannot be read, or hold no PEM certificate.",
)
PROBE_RESOLVER_INVALID = code(
    "probe.resolver_invalid", InputError, "The DNS resolver is not an IP address with a port."
)
PROBE_SERVER_NAME_INVALID = code(
    "probe.server_name_invalid",
    InputError,
    "The server name to send (SNI) is not a DNS host name (an address is never sent as SNI).",
)
PROBE_CONNECT_TO_INVALID = code(
    "probe.connect_to_invalid",
    InputError,
    "An address override is not a host name and an IP address.",
)
PROBE_INCOMPLETE = code(
    "probe.incomplete",
    ProbeError,
    "The prober failed on a target and could not judge it (a fault in certward, not in "
    "the server).",
)
