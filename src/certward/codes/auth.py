"""Error codes: the organisation's auth certificate (Set-AuthConfig, OAuth)."""

from certward.errors import StoreError, code

AUTH_NEXT_MISSING = code(
    "auth.next_missing",
    StoreError,
    "There is no next auth certificate to publish; stage one first.",
)
AUTH_NEXT_NOT_EFFECTIVE = code(
    "auth.next_not_effective",
    StoreError,
    "The next auth certificate is not effective yet; Exchange publishes it on its date.",
)
AUTH_KEY_UNSUPPORTED = code(
    "auth.key_unsupported",
    StoreError,
    "The auth certificate's key is not an RSA key, which Exchange's OAuth needs.",
)
