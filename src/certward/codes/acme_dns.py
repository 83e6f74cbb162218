"""Error codes: the challenge solvers that speak to other servers (DNS-01 by RFC 2136 dynamic
update with TSIG, TLS-ALPN-01's listener) and ACME Renewal Information (RFC 9773), issue 15.

The DNS errors name the zone and the server that answered (``zone``, ``server`` facts) so a
person knows which primary and which ``allow-update`` to look at; the TSIG secret is never
part of a message or a fact.
"""

from certward.errors import EndpointError, InputError, code

DNS01_TSIG_KEY_INVALID = code(
    "dns01.tsig_key_invalid",
    InputError,
    "The TSIG key file cannot be read or is not a BIND key clause "
    '(key "name" { algorithm hmac-sha256; secret "base64"; };).',
)
DNS01_SERVER_INVALID = code(
    "dns01.server_invalid",
    InputError,
    "A DNS server is not an IP address with an optional port (192.0.2.53:53, [2001:db8::53]:53).",
)
DNS01_ZONE_NOT_FOUND = code(
    "dns01.zone_not_found",
    EndpointError,
    "No zone (SOA record) was found above the challenge name, or its primary has no address.",
)
DNS01_UPDATE_REFUSED = code(
    "dns01.update_refused",
    EndpointError,
    "The zone's primary refused the dynamic update (REFUSED: the key may not update the zone).",
)
DNS01_NOT_AUTHORITATIVE = code(
    "dns01.not_authoritative",
    EndpointError,
    "The server is not authoritative for the zone, or did not accept the key (NOTAUTH).",
)
DNS01_TSIG_REJECTED = code(
    "dns01.tsig_rejected",
    EndpointError,
    "The server rejected the TSIG signature (BADSIG, BADKEY, BADTIME): wrong key name, "
    "algorithm or secret, or the clocks differ.",
)
DNS01_UPDATE_FAILED = code(
    "dns01.update_failed",
    EndpointError,
    "The zone's primary answered the dynamic update with another error (SERVFAIL, ...).",
)
DNS01_TIMEOUT = code(
    "dns01.timeout",
    EndpointError,
    "A DNS server did not answer in time, or could not be reached.",
)
DNS01_NOT_VISIBLE = code(
    "dns01.not_visible",
    EndpointError,
    "The challenge TXT record was added but the zone's servers did not answer it before the "
    "deadline.",
)
TLS_ALPN01_LISTEN_FAILED = code(
    "tls_alpn01.listen_failed",
    EndpointError,
    "The TLS-ALPN-01 listener could not listen on its address and port.",
)
ARI_FETCH_FAILED = code(
    "ari.fetch_failed",
    EndpointError,
    "The certificate's renewal information could not be fetched from the ACME server.",
)
ARI_INVALID = code(
    "ari.invalid",
    EndpointError,
    "The ACME server's renewal information is not a valid document (RFC 9773 suggestedWindow).",
)
ARI_NO_IDENTIFIER = code(
    "ari.no_identifier",
    InputError,
    "The certificate has no authority key identifier, so it has no ARI certificate identifier.",
)
