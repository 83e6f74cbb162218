"""Error codes: what the live endpoints serve and send: virtual directories, mail sent
through Send connectors, accepted domains and mailboxes."""

from certward.errors import EndpointError, InputError, NotFoundError, code

VDIR_NOT_FOUND = code(
    "vdir.not_found", NotFoundError, "The server has no virtual directory of that name."
)
VDIR_URL_INVALID = code(
    "vdir.url_invalid", InputError, "A virtual directory's URL is not an http(s) URL."
)
TRANSPORT_NOT_SEND_CONNECTOR = code(
    "transport.not_send_connector",
    InputError,
    "Mail leaves a server through one of its own Send connectors.",
)
TRANSPORT_NO_SMART_HOST = code(
    "transport.no_smart_host",
    EndpointError,
    "The Send connector has no smart host; certward sends only through smart hosts.",
)
TRANSPORT_NO_CERTIFICATE = code(
    "transport.no_certificate",
    NotFoundError,
    "The server has no certificate with a private key to present to the receiving server.",
)
MAIL_DOMAIN_INVALID = code(
    "mail.domain_invalid", InputError, "An accepted domain is a domain name without wildcards."
)
MAIL_ADDRESS_INVALID = code(
    "mail.address_invalid",
    InputError,
    "A mailbox's address is not local@domain with a dot-atom local part (RFC 5321).",
)
MAIL_DOMAIN_NOT_ACCEPTED = code(
    "mail.domain_not_accepted",
    InputError,
    "A mailbox's domain must be one of the organisation's accepted domains.",
)
