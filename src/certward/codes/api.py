"""Error codes of the REST API itself: requests it cannot take, before any service runs."""

from certward.errors import CertwardError, InputError, NotFoundError, code

API_TOKEN_MISSING = code(
    "api.token_missing",
    InputError,
    "The request carries no bearer token (an Authorization: Bearer header).",
)
API_REQUEST_INVALID = code(
    "api.request_invalid",
    InputError,
    "A parameter or the body of the request is missing or does not have the required form.",
)
API_REQUEST_MALFORMED = code(
    "api.request_malformed", InputError, "The body of the request cannot be parsed."
)
API_ROUTE_NOT_FOUND = code("api.route_not_found", NotFoundError, "No API route at that path.")
API_METHOD_NOT_ALLOWED = code(
    "api.method_not_allowed", InputError, "The route does not take that HTTP method."
)
API_INTERNAL = code(
    "api.internal", CertwardError, "The web service failed on the request; its log says why."
)
