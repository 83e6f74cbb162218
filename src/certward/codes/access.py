"""Error codes: users, API tokens, web sessions, one-time logins and roles (issue 14)."""

from certward.errors import (
    AuthenticationError,
    InputError,
    NotFoundError,
    PermissionDenied,
    StoreError,
    code,
)

LOGIN_FAILED = code(
    "access.login_failed",
    AuthenticationError,
    "The user name or password is wrong, the user is disabled, or logins for it are "
    "locked for a while after repeated failures.",
)
TOKEN_INVALID = code(
    "access.token_invalid",
    AuthenticationError,
    "The API token is not one certward issued, or it was revoked or has expired.",
)
SESSION_INVALID = code(
    "access.session_invalid",
    AuthenticationError,
    "The console session is unknown, closed or expired; log in again.",
)
ONE_TIME_INVALID = code(
    "access.one_time_invalid",
    AuthenticationError,
    "The one-time login code is unknown, already used or expired.",
)
DENIED = code(
    "access.denied",
    PermissionDenied,
    "The acting user's or token's role does not allow this operation.",
)
USER_EXISTS = code(
    "access.user_exists",
    StoreError,
    "A user of that name already exists (names are compared case-insensitively).",
)
USER_NOT_FOUND = code(
    "access.user_not_found",
    NotFoundError,
    "No user of that name exists.",
)
USER_NAME_INVALID = code(
    "access.user_name_invalid",
    InputError,
    "A user or token name is 1 to 64 characters without spaces, control characters or "
    "characters a command line or log would misread.",
)
PASSWORD_WEAK = code(
    "access.password_weak",
    InputError,
    "The password is empty or shorter than the minimum length.",
)
TOKEN_NOT_FOUND = code(
    "access.token_not_found",
    NotFoundError,
    "No API token with that identifier exists.",
)
EXPIRY_INVALID = code(
    "access.expiry_invalid",
    InputError,
    "A token's lifetime must be a positive duration.",
)
LAST_ADMIN = code(
    "access.last_admin",
    StoreError,
    "The change would leave no enabled admin user; certward keeps at least one once one exists.",
)
