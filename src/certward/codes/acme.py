"""Error codes: ACME (RFC 8555) accounts, orders, challenges and renewal (issue 15)."""

from certward.errors import EndpointError, InputError, NotFoundError, StoreError, code

ACME_ACCOUNT_NOT_FOUND = code(
    "acme.account_not_found", NotFoundError, "No ACME account is registered for that directory."
)
ACME_ACCOUNT_EXISTS = code(
    "acme.account_exists",
    StoreError,
    "An ACME account for that directory and e-mail address is already registered.",
)
ACME_EAB_INVALID = code(
    "acme.eab_invalid",
    InputError,
    "The external account binding's key identifier or HMAC key file cannot be used.",
)
ACME_DIRECTORY_UNREACHABLE = code(
    "acme.directory_unreachable",
    EndpointError,
    "The ACME directory could not be fetched (connection, TLS or HTTP failure).",
)
ACME_SOLVER_UNKNOWN = code(
    "acme.solver_unknown",
    InputError,
    "No challenge solver of that kind exists (http-01, dns-01, tls-alpn-01).",
)
ACME_SOLVER_SETTINGS = code(
    "acme.solver_settings",
    InputError,
    "A challenge solver's settings are missing or cannot be used.",
)
ACME_SOLVER_FAILED = code(
    "acme.solver_failed",
    EndpointError,
    "A challenge could not be made ready (listener, DNS update or TLS-ALPN certificate).",
)
ACME_NO_CHALLENGE = code(
    "acme.no_challenge",
    StoreError,
    "The ACME server offers no challenge of the configured kind for a name.",
)
ACME_CHALLENGE_INVALID = code(
    "acme.challenge_invalid",
    StoreError,
    "The ACME server could not validate a challenge, so the authorization is invalid.",
)
ACME_ORDER_INVALID = code(
    "acme.order_invalid", StoreError, "The ACME order became invalid before it was issued."
)
ACME_TIMEOUT = code(
    "acme.timeout",
    EndpointError,
    "The ACME server did not finish validating or issuing before the deadline.",
)
# Problem documents (urn:ietf:params:acme:error:*), RFC 8555 section 6.7.
ACME_RATE_LIMITED = code(
    "acme.rate_limited", EndpointError, "The ACME server refuses for now: a rate limit is reached."
)
ACME_BAD_NONCE = code(
    "acme.bad_nonce", EndpointError, "The ACME server kept refusing the request's nonce."
)
ACME_SERVER_INTERNAL = code(
    "acme.server_internal", EndpointError, "The ACME server failed with an internal error."
)
ACME_UNAUTHORIZED = code(
    "acme.unauthorized", StoreError, "The ACME account is not authorized for the names."
)
ACME_REJECTED_IDENTIFIER = code(
    "acme.rejected_identifier",
    StoreError,
    "The ACME server will not issue for a name (policy or a name it does not accept).",
)
ACME_MALFORMED = code("acme.malformed", StoreError, "The ACME server found the request malformed.")
ACME_BAD_CSR = code("acme.bad_csr", StoreError, "The ACME server refused the certificate request.")
ACME_ACCOUNT_REFUSED = code(
    "acme.account_refused",
    StoreError,
    "The ACME server refused the account (terms not agreed, external binding required or "
    "wrong, contact refused, or the account is deactivated).",
)
ACME_PROBLEM = code(
    "acme.problem", StoreError, "The ACME server refused with another problem document."
)
ACME_NOT_ACME = code(
    "acme.not_acme",
    InputError,
    "The certificate was not obtained through ACME, so ACME cannot renew it.",
)
