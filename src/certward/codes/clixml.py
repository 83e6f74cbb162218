"""Error codes: CliXML files (Export-Clixml) as PowerShell writes them."""

from certward.errors import InteropError, code

CLIXML_UNDECODABLE = code(
    "clixml.undecodable",
    InteropError,
    "The file is not text as PowerShell writes it (UTF-8 or UTF-16, with or without a BOM).",
)
CLIXML_UNSAFE = code(
    "clixml.unsafe",
    InteropError,
    "The XML declares a DTD or entities, nests too deep or is too large; Export-Clixml "
    "writes none of these, so certward does not read it.",
)
CLIXML_MALFORMED = code(
    "clixml.malformed",
    InteropError,
    "The file starts as CliXML but is not well-formed XML, or an element in it is not "
    "what Export-Clixml writes.",
)
CLIXML_UNRECOGNISED = code(
    "clixml.unrecognised",
    InteropError,
    "An object in the CliXML file is none of the objects certward reads (by its type names "
    "or its properties).",
)
CLIXML_VALUE_INVALID = code(
    "clixml.value_invalid",
    InteropError,
    "A property of an object in the CliXML file holds a value the cmdlet cannot have "
    "written (e.g. RawData that is not a certificate, or a Thumbprint that is not RawData's).",
)
CLIXML_VALUE_MISSING = code(
    "clixml.value_missing",
    InteropError,
    "An object in the CliXML file leaves out a property certward needs "
    "(e.g. a certificate without RawData).",
)
