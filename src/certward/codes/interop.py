"""Error codes: what real Windows and Exchange servers print (dumps), observing a server from
its dumps, and PFX files as Windows imports them."""

from certward.errors import InputError, InteropError, PkiError, code

# -- dumps (certutil, Format-List, Format-Table) ----------------------------------------------
DUMP_UNRECOGNISED = code(
    "dump.unrecognised",
    InteropError,
    "The text is neither certutil -store output nor the Format-List or Format-Table output of "
    "a cmdlet certward reads.",
)
DUMP_EMPTY = code("dump.empty", InteropError, "The dump holds no record.")
DUMP_VALUE_MISSING = code(
    "dump.value_missing",
    InteropError,
    "A record leaves out a value certward needs (e.g. a certificate's thumbprint).",
)
DUMP_VALUE_INVALID = code(
    "dump.value_invalid",
    InteropError,
    "A record holds a value that cannot be what the command prints.",
)
DUMP_DATE_INVALID = code(
    "dump.date_invalid",
    InteropError,
    "A date is not a date and time as Windows prints them, or not one in the dump's culture.",
)
DUMP_DATES_MIXED = code(
    "dump.dates_mixed",
    InteropError,
    "The dates of one dump are printed in different cultures (several servers in one file).",
)
DUMP_CULTURE_NEEDED = code(
    "dump.culture_needed",
    InteropError,
    "Every date of the dump reads both day-first and month-first (no day above 12, no 24-hour "
    "time, no en-US AM/PM): the server's culture must be given.",
)
DUMP_CULTURE_UNKNOWN = code(
    "dump.culture_unknown",
    InputError,
    "A culture name (en-GB, de-DE …) whose short-date order certward does not know.",
)
DUMP_LANGUAGE_UNKNOWN = code(
    "dump.language_unknown",
    InteropError,
    "The certutil output is in a display language certward cannot read (it reads English, "
    "French, German and Russian).",
)
DUMP_AUTH_CONFIG_REPEATED = code(
    "dump.auth_config_repeated",
    InteropError,
    "A dump holds more than one Get-AuthConfig record; an organisation has one.",
)

# -- observe -----------------------------------------------------------------------------------
OBSERVE_STORE_UNKNOWN = code(
    "observe.store_unknown",
    InteropError,
    "A certutil dump of a store other than My, Root or CA: which one it stands for must be said.",
)
OBSERVE_AUTH_BESIDE_MANAGED = code(
    "observe.auth_beside_managed",
    InputError,
    "Get-AuthConfig of a real organisation would replace the auth configuration of the "
    "servers certward runs in this store.",
)

# -- PFX files (convert: the key moved to another provider) -------------------------------------
PFX_CONVERT_NO_KEY = code(
    "pfx.convert_no_key", PkiError, "The PFX holds no private key, so there is nothing to move."
)
PFX_CONVERT_NO_LEAF = code(
    "pfx.convert_no_leaf",
    PkiError,
    "No certificate in the PFX belongs to its private key.",
)
PFX_CONVERT_KEY_NOT_RSA = code(
    "pfx.convert_key_not_rsa",
    PkiError,
    "Only an RSA key can be moved to another provider (CAPI providers hold RSA keys).",
)
