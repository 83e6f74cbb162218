"""Error codes: watch (the scheduler, probe targets, notification channels)."""

from certward.errors import EndpointError, InputError, NotFoundError, StoreError, code

WATCH_INTERVAL_INVALID = code(
    "watch.interval_invalid",
    InputError,
    "An interval is not a whole number and a unit (s, m, h, d, w) of at least one second.",
)
WATCH_TARGET_EXISTS = code(
    "watch.target_exists", StoreError, "The probe target is already watched."
)
WATCH_TARGET_NOT_FOUND = code(
    "watch.target_not_found", NotFoundError, "No probe target has that URL or number."
)
WATCH_CHANNEL_EXISTS = code(
    "watch.channel_exists", StoreError, "A notification channel of that name exists."
)
WATCH_CHANNEL_NOT_FOUND = code(
    "watch.channel_not_found", NotFoundError, "No notification channel has that name."
)
WATCH_NO_CHANNEL = code("watch.no_channel", NotFoundError, "No notification channel is configured.")
WATCH_CHANNEL_INVALID = code(
    "watch.channel_invalid",
    InputError,
    "A notification channel's settings cannot be used (address, URL, port or severity).",
)
WATCH_SECRET_UNREADABLE = code(
    "watch.secret_unreadable",
    InputError,
    "A channel's secret cannot be read from the environment variable or file it names.",
)
WATCH_DELIVERY_FAILED = code(
    "watch.delivery_failed",
    EndpointError,
    "A notification could not be delivered (the mail server or webhook refused or failed).",
)
WATCH_WORKER_FAILED = code(
    "watch.worker_failed",
    EndpointError,
    "The worker process that probes and sends notifications failed or gave no answer.",
)
