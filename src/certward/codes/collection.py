"""Error codes: collection zips written by the certward collector, and observing a whole
organisation from them."""

from certward.errors import InputError, InteropError, code

# -- the zip and its manifest --------------------------------------------------------------------
COLLECTION_NOT_ZIP = code(
    "collection.not_zip", InteropError, "The file is not a zip (or a damaged one)."
)
COLLECTION_MEMBER_UNSAFE = code(
    "collection.member_unsafe",
    InteropError,
    "A zip member's name is absolute, climbs out of the zip (..), is a link or a directory "
    "where a file belongs, or appears twice.",
)
COLLECTION_TOO_LARGE = code(
    "collection.too_large",
    InteropError,
    "The zip holds more files or more uncompressed bytes than any collection does "
    "(a zip bomb is refused before it is unpacked).",
)
COLLECTION_MEMBER_DAMAGED = code(
    "collection.member_damaged",
    InteropError,
    "A zip member cannot be unpacked (bad CRC, unsupported compression or encryption).",
)
COLLECTION_MANIFEST_MISSING = code(
    "collection.manifest_missing",
    InteropError,
    "The zip has no manifest.json: it was not written by the certward collector.",
)
COLLECTION_MANIFEST_INVALID = code(
    "collection.manifest_invalid",
    InteropError,
    "The zip's manifest.json is not the collector's JSON (a field is missing or of the wrong "
    "type).",
)
COLLECTION_SCHEMA_UNKNOWN = code(
    "collection.schema_unknown",
    InteropError,
    "The manifest's schema version is one this certward does not read.",
)
COLLECTION_KIND_UNKNOWN = code(
    "collection.kind_unknown",
    InteropError,
    "The manifest lists a file of a kind the collector never writes.",
)
COLLECTION_FILE_MISSING = code(
    "collection.file_missing",
    InteropError,
    "The manifest lists a file the zip does not hold, or the zip holds a file the manifest "
    "does not list.",
)
COLLECTION_FILE_INVALID = code(
    "collection.file_invalid",
    InteropError,
    "A file of the collection holds objects of another command than the one the manifest "
    "says wrote it.",
)

# -- observing an organisation from a collection ---------------------------------------------
OBSERVE_SERVER_NOT_COLLECTED = code(
    "observe.server_not_collected",
    InteropError,
    "A file of the collection belongs to a server that Get-ExchangeServer does not list.",
)
OBSERVE_COLLECTION_WITH_FILES = code(
    "observe.collection_with_files",
    InputError,
    "A collection zip is observed alone: it names its servers itself.",
)
