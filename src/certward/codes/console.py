"""Error codes: the console (server-rendered pages): what it refuses itself."""

from certward.errors import InputError, code

CONSOLE_CSRF_INVALID = code(
    "console.csrf_invalid",
    InputError,
    "A console form came without the security token of the session it was sent in.",
)
CONSOLE_REPLY_INVALID = code(
    "console.reply_invalid",
    InputError,
    "The renewal plan's copy of the CA's reply did not come back intact.",
)
CONSOLE_REPLY_TOO_LARGE = code(
    "console.reply_too_large",
    InputError,
    "The file uploaded as the CA's reply is too large to be one.",
)
