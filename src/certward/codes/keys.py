"""Error codes: the master key (its check value, its source, its rotation) and output files."""

from certward.errors import InputError, StoreError, code

MASTER_KEY_MISMATCH = code(
    "master_key.mismatch",
    StoreError,
    "The master key read is not the one this database's private keys are sealed under "
    "(its check value differs); nothing was written.",
)
MASTER_KEY_MISSING = code(
    "master_key.missing",
    StoreError,
    "The database holds sealed private keys (or a key check value) but no master key was "
    "found; certward does not make a new key for a database that already has one.",
)
MASTER_KEY_NEW_MISSING = code(
    "master_key.new_missing",
    InputError,
    "A rotation needs the new master key and none was given.",
)
MASTER_KEY_UNCHANGED = code(
    "master_key.unchanged",
    InputError,
    "The new master key is the current one; a rotation needs a different key.",
)
OUTPUT_EXISTS = code(
    "output.exists",
    InputError,
    "The output file exists; certward replaces an existing file only when told to.",
)
OUTPUT_PROTECTED = code(
    "output.protected",
    InputError,
    "The output file is the store's own database, its journal or its master key file, "
    "which no output ever replaces.",
)
