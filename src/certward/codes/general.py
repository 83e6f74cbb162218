"""Error codes: the organisation, servers, the store itself and the caller's input."""

from certward.errors import InputError, NotFoundError, StoreError, code

ORGANISATION_MISSING = code(
    "organisation.missing",
    NotFoundError,
    "The store has no organisation yet; create one before anything else.",
)
ORGANISATION_EXISTS = code(
    "organisation.exists", StoreError, "The store already holds an organisation (it has one)."
)
ORGANISATION_NAME_EMPTY = code(
    "organisation.name_empty", InputError, "An organisation needs a name."
)
SERVER_NOT_FOUND = code("server.not_found", NotFoundError, "No server of that name.")
SERVER_EXISTS = code("server.exists", StoreError, "A server of that name already exists.")
SERVER_ROLES_INVALID = code(
    "server.roles_invalid",
    InputError,
    "The roles cannot be combined (Edge Transport stands alone) or are unknown.",
)
SERVER_OBSERVED = code(
    "server.observed",
    StoreError,
    "The server is observed from its dumps: certward holds no keys for it, changes nothing on it.",
)
SERVER_MANAGED = code(
    "server.managed",
    StoreError,
    "The server is one certward runs; dumps of a real server cannot overwrite it.",
)
STORE_UNAVAILABLE = code(
    "store.unavailable", StoreError, "The database or its master key cannot be opened or created."
)
INPUT_INVALID = code(
    "input.invalid",
    InputError,
    "A value given by the caller is malformed (the message says which).",
)
INPUT_FILE_UNREADABLE = code(
    "input.file_unreadable", InputError, "A file given by the caller cannot be read."
)
INPUT_CONFLICT = code(
    "input.conflict", InputError, "Two values were given that exclude each other."
)
INPUT_MISSING = code("input.missing", InputError, "A value the operation needs was not given.")
MASTER_KEY_INVALID = code(
    "store.master_key_invalid",
    StoreError,
    "The master key (its file or environment variable) is empty or cannot be used.",
)
SERVER_NAME_INVALID = code(
    "server.name_invalid",
    InputError,
    "A server name is a NetBIOS name: 1-15 letters, digits or '-', not starting or ending "
    "with '-', not digits only.",
)
SERVER_TLS_RANGE_INVALID = code(
    "server.tls_range_invalid",
    InputError,
    "The TLS versions are unknown, or the minimum is above the maximum.",
)
STORE_DATABASE_ERROR = code(
    "store.database_error",
    StoreError,
    "The database refused or failed an operation; nothing of it was kept.",
)
STORE_OBJECT_NOT_FOUND = code(
    "store.object_not_found",
    NotFoundError,
    "A connector, Edge subscription or published certificate the operation names is not in "
    "the store.",
)
STORE_OBJECT_EXISTS = code(
    "store.object_exists",
    StoreError,
    "An accepted domain or mailbox of that name is already in the store.",
)
