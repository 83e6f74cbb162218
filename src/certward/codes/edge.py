"""Error codes: Edge Transport subscriptions (New-EdgeSubscription, EdgeSync)."""

from certward.errors import InputError, NotFoundError, StoreError, code

EDGE_NOT_EDGE_SERVER = code(
    "edge.not_edge_server", InputError, "Only an Edge Transport server is subscribed."
)
EDGE_ALREADY_SUBSCRIBED = code(
    "edge.already_subscribed",
    StoreError,
    "The Edge Transport server already has a subscription; remove it before subscribing again.",
)
EDGE_NO_DEFAULT_SMTP = code(
    "edge.no_default_smtp",
    NotFoundError,
    "The Edge Transport server has no default SMTP certificate for the subscription to publish.",
)
EDGE_SITE_NAME_INVALID = code(
    "edge.site_name_invalid",
    InputError,
    "An Active Directory site's name is blank, holds a control character or is too long.",
)
