"""certward's help conventions, applied to every command as its group resolves it.

- Every command shows at least one example (``EXAMPLES``, checked by a test that parses
  each example against the command it belongs to).
- Options show what they take (``--server NAME``, ``--out FILE``), never typer's
  ``<str>``/``<bool>``/``<list[str]>`` placeholders; flags show nothing.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperOption

# One or more examples per command, keyed by the command's path below ``certward``.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "quickstart": ("certward quickstart", "certward --db demo.db quickstart --json"),
    "inventory": ("certward inventory", "certward inventory --json"),
    "errors": ("certward errors", "certward errors --markdown > docs/errors.md"),
    "key check": ("certward key check", "certward --db /srv/certward/certward.db key check"),
    "key rotate": (
        "certward key rotate",
        "certward key rotate --new-key-file new.key",
    ),
    "web": (
        "certward web --demo",
        "certward web --server EXCH01 --host 0.0.0.0 --port 443",
        "certward --db postgresql+psycopg://certward@db/certward web",
        "certward web --openapi > docs/openapi.json",
    ),
    "serve": (
        "certward serve --server EXCH01 --https-port 8443 --imaps-port 9993 --pop3s-port 9995",
        "certward serve --server EXCH01 --workers 4",
    ),
    "probe": (
        "certward probe smtp://mx.contoso.com imaps://mail.contoso.com:993",
        "certward probe contoso.com --json",
    ),
    "events": ("certward events --server EXCH01", "certward events --server EXCH01 --json"),
    "health": (
        "certward health --server EXCH01 --as-of 2027-06-01",
        "certward health --powershell > fixes.ps1",
    ),
    "rules": ("certward rules", "certward rules --markdown > docs/rules.md"),
    "observe": (
        "certward observe certward-collection-20261202-0930.zip",
        "certward observe EXCH01 my.txt root.txt exchange-certificates.txt transport.txt",
        "certward observe EXCH01 certutil-store-my.txt --culture en-GB --version 2016",
    ),
    "collector": ("certward collector", "certward collector --out C:/temp/Collect-Certward.ps1"),
    "org init": ("certward org init Contoso --domain contoso.com",),
    "org show": ("certward org show", "certward org show --json"),
    "server add": (
        "certward server add EXCH01 --fqdn exch01.contoso.com --role Mailbox --version 2019",
        "certward server add EDGE01 --fqdn edge01.contoso.com --role EdgeTransport",
    ),
    "server set": ("certward server set EXCH01 --tls-min-version 1.2",),
    "server list": ("certward server list", "certward server list --json"),
    "server show": ("certward server show EXCH01",),
    "cert list": ("certward cert list --server EXCH01", "certward cert list -s EXCH01 --json"),
    "cert show": ("certward cert show THUMBPRINT --server EXCH01",),
    "cert tls-name": ("certward cert tls-name THUMBPRINT --server EXCH01",),
    "cert new": (
        'certward cert new --server EXCH01 --subject "CN=mail.contoso.com" '
        "--domain mail.contoso.com --exportable --keep-default-smtp",
    ),
    "cert request": (
        "certward cert request --server EXCH01 --exportable --out SSL-Request.req "
        '--subject "O=Contoso, CN=webmail.contoso.com" --domain webmail.contoso.com '
        "--domain autodiscover.contoso.com",
        'certward cert request --server EXCH01 --acme --subject "CN=webmail.contoso.com" '
        "--domain webmail.contoso.com --domain autodiscover.contoso.com",
        'certward cert request --server EXCH01 --acme --subject "CN=mail.contoso.com" '
        "--challenge dns-01 --challenge-option tsig-key-file=/etc/certward/tsig.key",
    ),
    "acme account add": (
        "certward acme account add --directory https://acme-v02.api.letsencrypt.org/directory "
        "--email hostmaster@contoso.com",
        "certward acme account add --directory https://acme.example.net/directory "
        "--email hostmaster@contoso.com --eab-kid kid-1 --eab-hmac-file eab.key "
        "--ca-bundle ca.pem",
    ),
    "acme account list": ("certward acme account list", "certward acme account list --json"),
    "acme orders": (
        "certward acme orders",
        "certward acme orders --json",
        "certward acme orders --prune",
    ),
    "acme renew": ("certward acme renew --dry-run", "certward acme renew --json"),
    "cert import": (
        "certward cert import --server EXCH01 webmail_contoso_com.p7b",
        "certward cert import --server EXCH02 webmail.pfx --password-file pw.txt",
    ),
    "cert enable": (
        "certward cert enable THUMBPRINT --server EXCH01 --services IIS,SMTP --keep-default-smtp",
    ),
    "cert export": (
        "certward cert export THUMBPRINT --server EXCH01 --out webmail.pfx --password-file pw.txt",
    ),
    "cert renew": ("certward cert renew THUMBPRINT --server EXCH01 --out new-request.req",),
    "cert remove": ("certward cert remove THUMBPRINT --server EXCH01",),
    "cert convert-key-provider": (
        "certward cert convert-key-provider THUMBPRINT --server EXCH01 --to capi",
    ),
    "store list": ("certward store list --server EXCH01 --store Root",),
    "store add": ("certward store add --server EXCH01 --store Root roots.pem",),
    "store remove": ("certward store remove --server EXCH01 --store Root THUMBPRINT",),
    "connector add": (
        'certward connector add send "Outbound to Office 365" --server EXCH01 '
        "--address-space contoso.mail.onmicrosoft.com "
        "--smart-host contoso-com.mail.protection.outlook.com --require-tls "
        "--tls-auth-level DomainValidation --tls-domain mail.protection.outlook.com",
    ),
    "connector set": (
        'certward connector set "Default Frontend EXCH01" --bind 127.0.0.1:2525 '
        "--tls-certificate THUMBPRINT",
    ),
    "connector list": ("certward connector list", "certward connector list --json"),
    "connector show": ('certward connector show "Outbound to Office 365"',),
    "connector remove": ('certward connector remove "Outbound to Office 365"',),
    "transport show": ("certward transport show",),
    "transport domain-secure add": ("certward transport domain-secure add send fabrikam.com",),
    "transport domain-secure remove": (
        "certward transport domain-secure remove receive fabrikam.com",
    ),
    "auth show": ("certward auth show", "certward auth show --json"),
    "auth new-next": ("certward auth new-next --effective 2027-03-01",),
    "auth publish": ("certward auth publish",),
    "auth clear-previous": ("certward auth clear-previous",),
    "auth monitor": ("certward auth monitor", "certward auth monitor --as-of 2027-06-01 --json"),
    "renew start": ("certward renew start THUMBPRINT --server EXCH01 --out webmail-2027.req",),
    "renew complete": (
        "certward renew complete THUMBPRINT --reply webmail-2027.p7b --plan",
        "certward renew complete THUMBPRINT --reply webmail-2027.p7b --apply --remove-old",
    ),
    "domain add": ("certward domain add contoso.com",),
    "domain list": ("certward domain list",),
    "mailbox add": (
        "certward mailbox add alice@contoso.com --server EXCH01 --password-file pw.txt",
    ),
    "mailbox list": ("certward mailbox list",),
    "log show": (
        "certward log show --server EXCH01",
        "certward log show --server UM01 --send --json",
    ),
    "mail send": (
        'certward mail send --server UM01 --connector "To HUB01" --from vm@contoso.com '
        "--to alice@contoso.com",
    ),
    "queue list": ("certward queue list --server UM01",),
    "queue retry": ("certward queue retry --server UM01",),
    "vdir list": ("certward vdir list --server EXCH01",),
    "vdir set": (
        "certward vdir set owa --server EXCH01 --external-url https://mail.contoso.com/owa",
    ),
    "edge subscribe": ("certward edge subscribe EDGE01 --site Amsterdam",),
    "edge list": ("certward edge list",),
    "edge remove": ("certward edge remove EDGE01",),
    "edge sync": ("certward edge sync", "certward edge sync --json"),
    "pfx inspect": ("certward pfx inspect webmail.pfx --password-file pw.txt",),
    "deploy add": (
        "certward deploy add mx --kind postfix --server EXCH01 --services SMTP "
        "--dir /etc/postfix/tls --verify smtp://127.0.0.1:25",
        "certward deploy add web --kind nginx --server EXCH01 --services IIS --host web1 "
        "--cert-file /etc/nginx/tls/fullchain.pem --key-file /etc/nginx/tls/key.pem "
        "--verify https://127.0.0.1:443 --sni mail.contoso.com",
        "certward deploy add imap --kind dovecot --server EXCH01 --services IMAP "
        "--dir /etc/dovecot/private --group dovecot --mode 0640 "
        "--reload 'doveadm reload' --verify imaps://127.0.0.1:993",
    ),
    "deploy list": ("certward deploy list", "certward deploy list --json"),
    "deploy show": ("certward deploy show mx", "certward deploy show mx --json"),
    "deploy run": ("certward deploy run mx", "certward deploy run --all --json"),
    "deploy remove": ("certward deploy remove mx",),
    "target add": (
        "certward target add smtp://mail.contoso.com --every 1h",
        "certward target add imaps://mail.contoso.com:993 --every 15m --ca-file corp-roots.pem",
    ),
    "target list": ("certward target list", "certward target list --json"),
    "target remove": ("certward target remove smtp://mail.contoso.com",),
    "notify add smtp": (
        "certward notify add smtp ops --host smtp.contoso.com --from certward@contoso.com "
        "--to ops@contoso.com --username certward --password-env SMTP_PASSWORD",
        "certward notify add smtp daily --host smtp.contoso.com --port 25 "
        "--from certward@contoso.com --to admins@contoso.com --digest",
    ),
    "notify add webhook": (
        "certward notify add webhook chat --url https://hooks.contoso.com/certward "
        "--secret-file /etc/certward/webhook.key",
    ),
    "notify list": ("certward notify list", "certward notify list --json"),
    "notify remove": ("certward notify remove chat",),
    "notify test": ("certward notify test", "certward notify test ops"),
    "watch": (
        "certward watch",
        "certward watch --health-every 30m --auth-every 1d",
        "certward watch --once --json",
        "certward watch --keep-runs 100 --keep-days 30",
    ),
    "pfx convert": (
        "certward pfx convert webmail.pfx --out webmail-capi.pfx --to capi --password-file pw.txt",
    ),
    "user add": (
        "certward user add alice --role admin",
        "certward user add bob --role reader --password-file bob.txt",
    ),
    "user list": ("certward user list", "certward user list --json"),
    "user set": (
        "certward user set bob --role operator",
        "certward user set bob --disable",
        "certward user set bob --password-file new.txt",
    ),
    "token create": (
        "certward token create grafana --role reader --expires 90d",
        "certward token create deploy --role operator --expires 12h --json",
        "certward token create mail1-agent --role agent --host mail1 --expires 90d",
    ),
    "token list": ("certward token list", "certward token list --json"),
    "token revoke": ("certward token revoke 3f9a1c2b7d4e",),
    "agent": (
        "certward agent --api https://certward.example.net:8443 --token-file agent.token "
        "--host mail1 --root agent-state --ca-bundle ca.pem",
        "certward agent --api https://127.0.0.1:8443 --token-file agent.token --host mail1 "
        "--root agent-state --every 5m --once",
    ),
    "audit list": (
        "certward audit list",
        "certward audit list --since 2026-12-01 --actor alice --action 'cert enable'",
        "certward audit list --action key.export --limit 20 --json",
    ),
}

# What an option takes, by its parameter name, where the name alone does not say it well.
_METAVARS: dict[str, str] = {
    "server": "NAME",
    "servers": "NAME",
    "name": "NAME",
    "site": "NAME",
    "connector": "NAME",
    "out": "FILE",
    "html": "FILE",
    "ca_file": "FILE",
    "targets_file": "FILE",
    "password_file": "FILE",
    "reply": "FILE",
    "subject": "DN",
    "domain": "DOMAIN",
    "domains": "DOMAIN",
    "services": "SERVICES",
    "days": "DAYS",
    "key_size": "BITS",
    "as_of": "DATE",
    "effective": "DATE",
    "friendly_name": "TEXT",
    "fqdn": "FQDN",
    "bind": "HOST:PORT",
    "smart_host": "HOST[:PORT]",
    "tls_certificate": "THUMBPRINT",
    "tls_certificate_name": '"<I>issuer<S>subject"',
    "host": "ADDRESS",
    "resolver": "IP[:PORT]",
    "concurrency": "N",
    "timeout": "SECONDS",
}


class _Argument(TyperArgument):
    """An argument whose name (its metavar) says what it takes: no type column."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def polish(command: Any, path: str, ctx: Any) -> None:
    """Give ``command`` (at ``path``) its metavars and examples, once. ``ctx`` is its
    parent's context (it decides the help option's names)."""
    if getattr(command, "_certward_polished", False):
        return
    command._certward_polished = True
    help_option = command.get_help_option(ctx)  # created once, then cached by the command
    for param in [*command.params, *([help_option] if help_option else [])]:
        if isinstance(param, TyperArgument):
            param.__class__ = _Argument
        elif isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = "" if param.is_flag else metavar(param)
    examples = EXAMPLES.get(path)
    if examples and not hasattr(command, "commands"):
        lines = "\n".join(f"  {_markup_escaped(example)}" for example in examples)
        command.epilog = f"Examples:\n\n{lines}"


def _markup_escaped(text: str) -> str:
    """``text`` as rich markup that prints it as written. rich loads only for a text that
    needs escaping (a ``[`` or a trailing backslash): every command resolves its examples,
    and most need none."""
    if "[" not in text and not text.endswith("\\"):
        return text
    from rich.markup import escape

    return escape(text)


def metavar(param: Any) -> str:
    name = str(param.name or "")
    if name in _METAVARS:
        return _METAVARS[name]
    if name.endswith("_file") or name.endswith("_dir"):
        return "FILE" if name.endswith("_file") else "DIR"
    if name.endswith("_port") or name == "port":
        return "PORT"
    return name.upper().replace("_", "-") or "VALUE"
