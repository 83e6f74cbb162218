"""What the command line adds to an error: the flag or command that answers it.

Services speak the domain and never name a flag; this table is where a code meets the
command line. A hint is a format string over the error's facts (``{server}``), printed
after the message: ``error: <message> (<hint>)``. Codes without a hint print the message
alone. Each area keeps its hints in its own section. A fact in a hint is part of a command
line, so it is quoted for a POSIX shell (:func:`shlex.quote`): a connector named
``Hybrid $(x)`` is printed as ``'Hybrid $(x)'``.
"""

from __future__ import annotations

import shlex

from certward.errors import CertwardError, ConfirmationRequired

HINTS: dict[str, str] = {
    # -- general ---------------------------------------------------------------------------
    "organisation.missing": "run 'certward org init NAME' first",
    # -- certificates, stores, organisation, renewal ----------------------------------------
    "server.not_found": "see 'certward server list'",
    "certificate.days_invalid": "pass --days 1 or more",
    "certificate.not_exportable": "create or import it with --exportable",
    "certificate.request_output_missing": "pass --out FILE for the new request",
    "certificate.is_default_smtp": (
        "enable another certificate for SMTP with --force, then remove this one"
    ),
    "certificate.named_by_connector": (
        "point them elsewhere with 'certward connector set NAME --tls-certificate THUMBPRINT'"
    ),
    "certificate.in_use": "pass --force to remove it anyway",
    "import.only_ca_certificates": "to trust them use 'certward store add --store Root|CA'",
    "trust_store.is_my": "use 'certward cert import'",
    "renewal.reply_required": (
        "pass --reply FILE (the CA's answer to the request 'certward renew start' made)"
    ),
    "renewal.reply_differs": "import it with 'certward cert import' instead",
    "renewal.no_request": "run 'certward renew start' first",
    # -- acme (issue 15) ----------------------------------------------------------------------
    "acme.account_not_found": (
        "register one with 'certward acme account add --directory URL --email ADDRESS', "
        "or name it with --account (see 'certward acme account list')"
    ),
    "acme.account_refused": (
        "where the CA requires an external account binding, pass --eab-kid and --eab-hmac-file"
    ),
    "acme.solver_unknown": "pass --challenge http-01, dns-01 or tls-alpn-01",
    "acme.solver_settings": "pass the solver's settings as --challenge-option NAME=VALUE",
    "acme.rate_limited": "'certward acme renew' tries again after the time the CA asked for",
    # -- deploy (issue 15) --------------------------------------------------------------------
    "deploy.not_found": "see 'certward deploy list'",
    "deploy.key_not_exportable": "create or import the certificate with --exportable",
    "deploy.wrong_host": "the agent of that host deploys it ('certward agent --host')",
    "deploy.exists": "remove it first with 'certward deploy remove NAME'",
    # -- web ----------------------------------------------------------------------------------
    "web.no_iis_certificate": (
        "enable one with 'certward cert enable THUMBPRINT --server {server} --services IIS'"
    ),
    "web.no_server": "pass --server NAME, or enable a certificate for IIS on a server",
    "web.listen_failed": "choose another --port or --host",
    # -- watch --------------------------------------------------------------------------------
    "watch.target_not_found": "see 'certward target list'",
    "watch.channel_not_found": "see 'certward notify list'",
    "watch.no_channel": "add one with 'certward notify add smtp' or 'certward notify add webhook'",
    "watch.interval_invalid": "e.g. --every 15m, 1h or 1d",
    "watch.secret_unreadable": "set the variable, or remove the channel and add it again",
    # -- pki, pfx ----------------------------------------------------------------------------
    "pfx.password_missing": "pass --password-file",
    "pki.private_key_encrypted": "pass --password-file",
    "pki.private_key_unexpected": "use 'certward cert import' instead",
    # -- connectors, transport, auth, edge, observe, mail -------------------------------------
    "connector.not_found": "see 'certward connector list'",
    "connector.ambiguous": "name one of them as SERVER\\Name",
    "connector.server_missing": "pass --server NAME",
    "connector.receive_one_server": "give it one --server; to move it, remove it and add it "
    "on the other server",
    "connector.tls_name_twice": "give --tls-certificate-name or --tls-certificate, not both",
    "connector.certificate_pending": "complete it first with "
    "'certward cert import --server {server} FILE'",
    "domain_secure.not_listed": "see 'certward transport show'",
    "auth.next_missing": "stage one with 'certward auth new-next'",
    "auth.next_not_effective": "pass --force to publish it now",
    "edge.already_subscribed": "run 'certward edge remove {server}' first",
    "edge.no_default_smtp": "create one with 'certward cert new --server {server} ...'",
    "observe.store_unknown": "say which one it stands for with --store My|Root|CA",
    "observe.auth_beside_managed": "observe into a store of its own (--db PATH)",
    # -- users, tokens, the audit log ---------------------------------------------------------
    "access.user_not_found": "see 'certward user list'",
    "access.user_exists": "change it with 'certward user set {user} --role ROLE'",
    "access.token_not_found": "see 'certward token list'",
    "access.expiry_invalid": "pass --expires 90d (h: hours, d: days, w: weeks) or never",
    "access.last_admin": "make another user admin first: 'certward user set NAME --role admin'",
    # -- collection zips (certward collector) ------------------------------------------------
    "collection.manifest_missing": "collect with the script 'certward collector' writes",
    "collection.schema_unknown": "collect again with the script this certward writes: "
    "certward collector",
    "collection.kind_unknown": "collect again with the script this certward writes: "
    "certward collector",
    "observe.collection_with_files": "certward observe {file}",
    "transport.no_smart_host": "add one with: certward connector set {connector} "
    "--smart-host HOST[:PORT]",
    "mail.domain_not_accepted": "run 'certward domain add {domain}' first",
    # -- probe -------------------------------------------------------------------------------
    "probe.no_target": "give smtp://host, imap://host, https://host or a mail domain, "
    "or --targets-file FILE",
    "probe.target_invalid": "give smtp://, smtps://, imap://, imaps://, pop3://, pop3s:// or "
    "https://host[:port], or a bare mail domain",
    "probe.targets_unreadable": "check --targets-file",
    "probe.roots_invalid": "--ca-file takes a PEM bundle of trusted roots",
    "probe.resolver_invalid": "pass --resolver IP[:PORT], e.g. 192.0.2.53:53 or [2001:db8::53]:53",
    "probe.server_name_invalid": "pass --sni a DNS name such as mail.contoso.com",
    "probe.connect_to_invalid": "pass --connect-to HOST:IP, e.g. mail.contoso.com:192.0.2.10",
    # -- ACME challenge solvers: DNS-01, TLS-ALPN-01 -----------------------------------------
    "dns01.tsig_key_invalid": "pass --challenge-option tsig-key-file=FILE, a key made by "
    "'tsig-keygen -a hmac-sha256 NAME'",
    "dns01.server_invalid": "give --challenge-option server=IP[:PORT] or resolvers=IP[:PORT],…",
    "tls_alpn01.listen_failed": "pass --challenge-option port=N of a free port (or address=IP)",
    # -- keys, files -------------------------------------------------------------------------
    "output.exists": "pass --force to replace it",
    "output.protected": "write to another file",
    "master_key.mismatch": "give the database's own key (its key file or $CERTWARD_MASTER_KEY); "
    "'certward key check' tests it",
    "master_key.missing": "restore the key file that belongs to the database, "
    "or set $CERTWARD_MASTER_KEY to its key",
    "master_key.new_missing": "pass --new-key-file FILE or set $CERTWARD_NEW_MASTER_KEY",
}

# A confirmation's answers, as the flags that give them: {code: {answer: flag}}.
ANSWER_FLAGS: dict[str, dict[str, str]] = {
    "smtp.default_overwrite": {"replace": "--force", "keep": "--keep-default-smtp"},
}


def hint(error: CertwardError) -> str | None:
    """The command-line hint for an error, or None."""
    if isinstance(error, ConfirmationRequired):
        flags = ANSWER_FLAGS.get(error.code.id, {})
        parts = [f"{flags[a.name]} to {a.meaning}" for a in error.answers if a.name in flags]
        if parts:
            return "pass " + " or ".join(parts)
    template = HINTS.get(error.code.id)
    if template is None:
        return None
    try:
        return template.format_map(
            {k: shlex.quote(v) if isinstance(v, str) else v for k, v in error.facts.items()}
        )
    except (KeyError, IndexError, ValueError):
        return template


def error_line(error: CertwardError) -> str:
    """``error: <message>`` plus the hint, as one line."""
    extra = hint(error)
    return f"error: {error.message}" + (f"; {extra}" if extra else "")
