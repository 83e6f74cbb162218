"""Error codes: host agents (issue 15) — tokens bound to a host, the agents' API, the agent.

An agent's token is an API token with the role ``agent`` bound to one host: it fetches that
host's deployments (with their keys) and reports their results, and nothing else.
"""

from certward.errors import EndpointError, InputError, PermissionDenied, code

AGENT_HOST_REQUIRED = code(
    "agent.host_required",
    InputError,
    "A token with the agent role is bound to one host, and only such a token is: name the "
    "host for an agent token, and none for the other roles.",
)
AGENT_HOST_INVALID = code(
    "agent.host_invalid",
    InputError,
    "A host name is 1 to 253 letters, digits, dots, dashes or underscores.",
)
AGENT_ROLE_FOR_TOKENS = code(
    "agent.role_for_tokens",
    InputError,
    "The agent role belongs to API tokens bound to a host, not to users.",
)
AGENT_OTHER_HOST = code(
    "agent.other_host",
    PermissionDenied,
    "An agent's token is bound to one host: it may fetch and report only that host's deployments.",
)
AGENT_REPORT_INVALID = code(
    "agent.report_invalid",
    InputError,
    "An agent's report names a deployment that is not its host's, or holds a value that "
    "cannot be used.",
)
AGENT_API_UNREACHABLE = code(
    "agent.api_unreachable",
    EndpointError,
    "The agent could not reach certward's API (connection, TLS or an error answer); it keeps "
    "the files it deployed and tries again.",
)
AGENT_STATE_INVALID = code(
    "agent.state_invalid",
    InputError,
    "The agent's state file cannot be read; move it aside and the agent deploys again.",
)
AGENT_API_REFUSED = code(
    "agent.api_refused",
    PermissionDenied,
    "The API refused the agent's token (HTTP 401: unknown, expired or revoked; 403: "
    "not this host's agent token); the agent keeps the files it deployed, reads its token "
    "file again and tries again at its interval.",
)
