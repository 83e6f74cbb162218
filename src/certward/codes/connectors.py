"""Error codes: Send and Receive connectors, their TlsCertificateName, domain security."""

from certward.errors import InputError, NotFoundError, StoreError, code

CONNECTOR_NOT_FOUND = code(
    "connector.not_found", NotFoundError, "No connector has that identity or name."
)
CONNECTOR_AMBIGUOUS = code(
    "connector.ambiguous",
    InputError,
    "Connectors of several servers share the name; name one by its identity (SERVER\\Name).",
)
CONNECTOR_NAME_SYNTAX = code(
    "connector.name_syntax",
    InputError,
    "A connector's name is empty, longer than 64 characters, or holds a backslash (the "
    "identity's separator) or a control character.",
)
CONNECTOR_SERVER_MISSING = code(
    "connector.server_missing", InputError, "A connector belongs to at least one server."
)
CONNECTOR_RECEIVE_ONE_SERVER = code(
    "connector.receive_one_server",
    InputError,
    "A Receive connector belongs to exactly one server, and keeps it.",
)
CONNECTOR_EXISTS = code(
    "connector.exists", StoreError, "A connector with that identity already exists."
)
CONNECTOR_SETTINGS_INVALID = code(
    "connector.settings_invalid",
    InputError,
    "The connector's settings break one of Exchange's rules for connectors (the message "
    "lists them).",
)
CONNECTOR_DOMAIN_INVALID = code(
    "connector.domain_invalid",
    InputError,
    "A connector's Fqdn or TlsDomain is not a valid domain name.",
)
CONNECTOR_TLS_NAME_SYNTAX = code(
    "connector.tls_name_syntax",
    InputError,
    "A TlsCertificateName is not of the form <I>issuer<S>subject with valid X.500 names.",
)
CONNECTOR_TLS_NAME_TWICE = code(
    "connector.tls_name_twice",
    InputError,
    "The TlsCertificateName was given both as text and from a certificate.",
)
CONNECTOR_CERTIFICATE_NOT_ON_SERVER = code(
    "connector.certificate_not_on_server",
    NotFoundError,
    "The certificate to name in TlsCertificateName is on none of the connector's servers.",
)
CONNECTOR_CERTIFICATE_PENDING = code(
    "connector.certificate_pending",
    StoreError,
    "A pending request has no issuer or subject to name in a TlsCertificateName yet.",
)
DOMAIN_SECURE_DIRECTION = code(
    "domain_secure.direction",
    InputError,
    "A domain-secure list is the send list or the receive list.",
)
DOMAIN_SECURE_DOMAIN_INVALID = code(
    "domain_secure.domain_invalid",
    InputError,
    "A domain-secure list holds domain names, without wildcards.",
)
DOMAIN_SECURE_NOT_LISTED = code(
    "domain_secure.not_listed",
    NotFoundError,
    "The domain is not in that domain-secure list, so it cannot be removed.",
)
