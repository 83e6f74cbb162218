"""``certward``: commands and flags are the contract (issues 2 and 3); each verb is thin."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

# acme_cmd names the options of `cert request --acme` (it imports nothing heavy at start)
from certward.interfaces.cli import acme_cmd, inputs, render
from certward.interfaces.cli.common import (
    DbOpt,
    JsonOpt,
    LazyCommand,
    PasswordFileOpt,
    ServerOpt,
    ThumbArg,
    as_thumbprint,
    console,
    new_typer,
    open_app,
    parse,
    read_with,
    root_db,
)

if TYPE_CHECKING:
    from certward.compose import App
    from certward.model import ServiceSet
    from certward.services.views import CertificateView

T = TypeVar("T")

_CLI = "certward.interfaces.cli."


def _commands(module: str, table: dict[str, tuple[str, str]]) -> dict[str, LazyCommand]:
    return {
        name: LazyCommand(_CLI + module, attr, summary) for name, (attr, summary) in table.items()
    }


# Every command below ``certward``, in the order ``certward --help`` lists them: the module
# is imported only when the command runs (or its own --help is asked for); the summary is
# what the listing shows, the start of the command's own help (a test keeps them equal).
COMMANDS: dict[str, LazyCommand] = {
    **_commands(
        "serve_cmd",
        {
            "serve": (
                "serve",
                "Run the server's endpoints: every receive connector (SMTP with STARTTLS)",
            )
        },
    ),
    **_commands(
        "probe_cmd",
        {
            "probe": (
                "probe",
                "Stages, TLS versions, chain, trust, names (SAN vs CN), client-CA list size; "
                "for a mail domain its MX hosts, MTA-STS, TLS-RPT and DANE.",
            )
        },
    ),
    **_commands(
        "watch_cmd",
        {
            "watch": (
                "watch",
                "The scheduler without the web service: health, the auth monitor, the probe "
                "targets, ACME renewal and this machine's deployments at their intervals, each "
                "run kept, notifications sent.",
            )
        },
    ),
    **_commands(
        "serve_cmd",
        {
            "events": (
                "events",
                "Exchange-style events of the server's endpoints (12014, 12016, 36885, ...).",
            )
        },
    ),
    **_commands(
        "health_cmd",
        {
            "health": (
                "health",
                "Every health rule over the organisation: findings by server and severity, each "
                "with the certward command and the Exchange Management Shell equivalent that "
                "fix it.",
            ),
            "rules": ("rules", "The health rules: ID, title, severities and what each prevents."),
        },
    ),
    **_commands(
        "observe_cmd",
        {
            "observe": (
                "observe",
                "Build (or refresh) observed servers from a real organisation's output; then "
                "run 'certward health' on them.",
            )
        },
    ),
    **_commands(
        "collector_cmd",
        {
            "collector": (
                "collector",
                "Write the collector script: run on one Exchange server, it saves what certward "
                "reads of every server",
            )
        },
    ),
    **_commands(
        "errors_cmd",
        {"errors": ("errors", "The stable error codes: code, kind, exit status and meaning.")},
    ),
    **_commands(
        "web_cmd",
        {
            "web": (
                "web",
                "Serve the console, the REST API (/api/v1) and Prometheus metrics (/metrics) "
                "over HTTPS.",
            )
        },
    ),
    **_commands(
        "agent_cmd",
        {
            "agent": (
                "agent",
                "Run the host agent: pull this host's deployments from certward's API, deploy "
                "and verify each, report what its ports serve; again every interval.",
            )
        },
    ),
    **_commands(
        "app",
        {
            "quickstart": (
                "quickstart",
                "Build a demo organisation (seed 002's scenario) and print its certificate "
                "inventory.",
            ),
            "inventory": (
                "inventory",
                "Every server's certificates, with services, status and expiry.",
            ),
            "org": ("org_app", "The organisation and its OAuth auth certificate."),
            "server": ("server_app", "Servers, their roles and versions."),
            "cert": (
                "cert_app",
                "Certificates in a server's personal (My) store: the Exchange cmdlets.",
            ),
            "store": ("store_app", "A server's trusted roots (Root) and intermediates (CA)."),
        },
    ),
    **_commands(
        "connector_cmd",
        {
            "connector": (
                "connector_app",
                "Send and Receive connectors and their TLS certificate names.",
            ),
            "transport": (
                "transport_app",
                "Organisation-wide transport settings (domain security).",
            ),
        },
    ),
    **_commands(
        "auth_cmd",
        {"auth": ("auth_app", "The organisation's OAuth auth certificate (Get-AuthConfig).")},
    ),
    **_commands(
        "renew_cmd",
        {"renew": ("renew_app", "Renew a certificate everywhere it is used, as one transaction.")},
    ),
    **_commands(
        "serve_cmd",
        {
            "domain": ("domain_app", "Accepted domains."),
            "mailbox": (
                "mailbox_app",
                "Mailboxes that SMTP delivers to and IMAP/POP3 read from.",
            ),
            "log": ("log_app", "Protocol logs of the live endpoints."),
            "mail": ("mail_app", "Send mail through a Send connector."),
            "queue": ("queue_app", "Messages waiting to be sent."),
            "vdir": (
                "vdir_app",
                "IIS virtual directories (OWA, ECP, EWS, ActiveSync, Autodiscover, OAB).",
            ),
        },
    ),
    **_commands(
        "edge_cmd",
        {"edge": ("edge_app", "Edge subscriptions and EdgeSync (direct trust, seed 004).")},
    ),
    **_commands(
        "pfx_cmd",
        {
            "pfx": (
                "pfx_app",
                "PFX files: key provider (CNG or CAPI), chain and encryption, as Windows sees "
                "them.",
            )
        },
    ),
    **_commands(
        "watch_cmd",
        {
            "target": (
                "target_app",
                "Probe targets the scheduler watches (certward watch, certward web).",
            ),
            "notify": (
                "notify_app",
                "Where the scheduler sends notifications: e-mail and webhooks.",
            ),
        },
    ),
    **_commands(
        "key_cmd",
        {
            "key": (
                "key_app",
                "The master key that seals the stored private keys: check and rotate it.",
            )
        },
    ),
    **_commands(
        "user_cmd", {"user": ("user_app", "Users of the console and the API, and their roles.")}
    ),
    **_commands(
        "token_cmd",
        {"token": ("token_app", "API tokens: made with a role, shown once, revoked by id.")},
    ),
    **_commands(
        "audit_cmd",
        {"audit": ("audit_app", "The audit log: who changed what, when, through what.")},
    ),
    **_commands(
        "acme_cmd",
        {
            "acme": (
                "acme_app",
                "ACME (RFC 8555): accounts, and renewal of certificates obtained by ACME.",
            )
        },
    ),
    **_commands(
        "deploy_cmd",
        {
            "deploy": (
                "deploy_app",
                "Deploy certificates to Linux daemons (Postfix, Dovecot, nginx, files), "
                "verified by probe.",
            )
        },
    ),
}
CERT_COMMANDS = _commands(
    "pfx_cmd",
    {
        "convert-key-provider": (
            "convert_key_provider",
            "Move a certificate's private key to a CAPI (or CNG) provider in the store.",
        )
    },
)

app = new_typer(
    "certward: the certificates and TLS of an Exchange-style organisation.",
    root=True,
    lazy=COMMANDS,
)
org_app = new_typer("The organisation and its OAuth auth certificate.")
server_app = new_typer("Servers, their roles and versions.")
cert_app = new_typer(
    "Certificates in a server's personal (My) store: the Exchange cmdlets.", lazy=CERT_COMMANDS
)
store_app = new_typer("A server's trusted roots (Root) and intermediates (CA).")
# quickstart and inventory are commands of the root: COMMANDS makes them, not a decorator.
_top = typer.Typer()


def _print_version(value: bool) -> None:
    if value:
        from certward import __version__  # the distribution's (a test keeps them equal)

        typer.echo(f"certward {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    db: DbOpt = None,
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            is_eager=True,
            callback=_print_version,
            help="Print certward's version and exit.",
        ),
    ] = False,
) -> None:
    root_db.set(db)
    render.reset()


def _show_views(views: list[CertificateView], as_json: bool, title: str | None = None) -> None:
    if as_json:
        render.print_json([view.to_json() for view in views])
    else:
        console().print(render.certificate_table(views, title=title))


def _ask_default_smtp(action: Callable[[bool | None], T], force: bool, keep_default: bool) -> T:
    """Run ``action``; answer Exchange's default-SMTP question from the flags or a terminal."""
    from certward.codes.certificates import SMTP_DEFAULT_OVERWRITE
    from certward.codes.general import INPUT_CONFLICT
    from certward.errors import ConfirmationRequired

    if force and keep_default:
        raise INPUT_CONFLICT("--force and --keep-default-smtp contradict each other")
    answer: bool | None = True if force else False if keep_default else None
    try:
        return action(answer)
    except ConfirmationRequired as question:
        if question.code is not SMTP_DEFAULT_OVERWRITE or not sys.stdin.isatty():
            raise
        typer.echo(question.question)  # plain: a terminal must not re-wrap it
        reply = typer.prompt(
            '[Y] Yes  [A] Yes to All  [N] No  [L] No to All  [?] Help (default is "Y")',
            default="Y",
            show_default=False,
        )
        return action(reply.strip().upper()[:1] in ("Y", "A", ""))


# -- quickstart and inventory ----------------------------------------------------------------
@_top.command()
def quickstart(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Build a demo organisation (seed 002's scenario) and print its certificate inventory."""
    from certward.clock import SystemClock
    from certward.services.demo import build_demo

    application = open_app(db)
    result = build_demo(
        application.organisation,
        application.certificates,
        application.connectors,
        application.vdirs,
        SystemClock(),
    )
    if not as_json:
        if result.created:
            console().print(
                "Built the demo organisation Contoso: EXCH01 requested webmail.p365labs.com, "
                "a demo CA answered, the certificate was enabled for IIS,SMTP (keeping the "
                "self-signed default SMTP certificate), exported and imported on EXCH02; the "
                "hybrid Send connector and the Default Frontend connectors name it.",
                markup=False,
            )
        else:
            console().print("The store already holds an organisation; its inventory:")
        console().print(f"Database: {application.settings.database_url}", markup=False)
    _inventory(application, as_json)
    if not as_json:
        counts = application.health.check().counts()
        summary = ", ".join(f"{n} {label}" for label, n in counts.items() if n)
        console().print(f"Health: {summary or 'no findings'} (details: certward health)")


@_top.command()
def inventory(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Every server's certificates, with services, status and expiry."""
    _inventory(open_app(db), as_json)


def _inventory(application: App, as_json: bool) -> None:
    certificates = application.certificates
    servers = application.organisation.servers()
    if as_json:
        render.print_json(
            [
                {
                    **summary.to_json(),
                    "certificates": [
                        v.to_json() for v in certificates.list_certificates(summary.server.name)
                    ],
                }
                for summary in servers
            ]
        )
        return
    for summary in servers:
        views = certificates.list_certificates(summary.server.name)
        out = console()
        if out.is_terminal:
            out.print()
        table = render.certificate_table(views, title=summary.server.name, detailed=True)
        setattr(table, render.GROUP, "Server")
        out.print(table)


# -- org --------------------------------------------------------------------------------------
@org_app.command("init")
def org_init(
    name: Annotated[str, typer.Argument(help="Organisation name.")],
    domain: Annotated[
        str | None, typer.Option("--domain", help="Domain written in the auth certificate.")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Create the organisation and its OAuth auth certificate (5 years, RSA 2048)."""
    org = open_app(db).organisation.init_organisation(name, domain=domain)
    console().print(f"Organisation {org.name} created.", markup=False)
    console().print(f"Auth certificate: {org.auth_thumbprint}", markup=False)


@org_app.command("show")
def org_show(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """The organisation: name, domain, auth certificate."""
    org = open_app(db).organisation.organisation()
    data = {"name": org.name, "domain": org.domain, "auth_thumbprint": org.auth_thumbprint}
    if as_json:
        render.print_json(data)
    else:
        console().print(
            render.simple_table(
                ["Name", "Domain", "AuthCertificate"],
                [[org.name, org.domain or "", org.auth_thumbprint or ""]],
            )
        )


# -- server -----------------------------------------------------------------------------------


@server_app.command("add")
def server_add(
    name: Annotated[str, typer.Argument(help="NetBIOS name, e.g. EXCH01.")],
    fqdn: Annotated[str, typer.Option("--fqdn", help="Fully qualified domain name.")],
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            help="Mailbox, ClientAccess, HubTransport, EdgeTransport, "
            "UnifiedMessaging (repeatable; default Mailbox).",
        ),
    ] = None,
    version: Annotated[
        str, typer.Option("--version", help="2007, 2010, 2013, 2016, 2019.")
    ] = "2019",
    db: DbOpt = None,
) -> None:
    """Add a server; like setup, it gets a self-signed certificate as default SMTP cert."""
    from certward.model import ExchangeVersion, Role

    roles = [parse(Role.parse, value) for value in role or []]
    server = open_app(db).organisation.add_server(
        name, fqdn=fqdn, roles=roles, version=parse(ExchangeVersion.parse, version)
    )
    console().print(f"Server {server.name} ({server.fqdn}) added.", markup=False)
    if server.default_smtp_thumbprint:
        console().print(f"Self-signed certificate: {server.default_smtp_thumbprint}", markup=False)


@server_app.command("set")
def server_set(
    name: Annotated[str, typer.Argument(help="Server name.")],
    tls_min_version: Annotated[
        str | None, typer.Option("--tls-min-version", help="1.0, 1.1, 1.2 or 1.3.")
    ] = None,
    tls_max_version: Annotated[
        str | None, typer.Option("--tls-max-version", help="1.0, 1.1, 1.2 or 1.3.")
    ] = None,
    send_trusted_issuer_list: Annotated[
        bool | None,
        typer.Option(
            "--send-trusted-issuer-list/--no-send-trusted-issuer-list",
            help="Send the Root store's names when asking for a client certificate.",
        ),
    ] = None,
    db: DbOpt = None,
) -> None:
    """TLS protocol policy of a server (TLS 1.0/1.1 only when enabled explicitly)."""
    server = open_app(db).organisation.set_server(
        name,
        tls_min_version=tls_min_version,
        tls_max_version=tls_max_version,
        send_trusted_issuer_list=send_trusted_issuer_list,
    )
    console().print(
        f"{server.name}: TLS {server.tls_min_version}-{server.tls_max_version}, "
        f"send trusted issuer list: {server.send_trusted_issuer_list}",
        markup=False,
    )


@server_app.command("list")
def server_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """The organisation's servers."""
    summaries = read_with(db, lambda application: application.organisation.servers())
    if as_json:
        render.print_json([s.to_json() for s in summaries])
        return
    rows = [
        [
            s.server.name,
            s.server.fqdn,
            ", ".join(sorted(r.value for r in s.server.roles)),
            str(int(s.server.version)),
            s.server.default_smtp_thumbprint or "",
            str(s.certificate_count),
            "observed" if s.server.observed else "certward",
        ]
        for s in summaries
    ]
    headers = [
        "Name",
        "Fqdn",
        "Roles",
        "Version",
        "DefaultSmtpCertificate",
        "Certificates",
        "Run by",
    ]
    console().print(render.simple_table(headers, rows))


@server_app.command("show")
def server_show(
    name: Annotated[str, typer.Argument(help="Server name.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One server."""
    application = open_app(db)
    server = application.organisation.server(name)
    from certward.services.organisation import ServerSummary

    count = len(application.certificates.list_certificates(server.name))
    data = ServerSummary(server, count).to_json()
    if as_json:
        render.print_json(data)
    else:
        render.print_fields((render.pascal(key), value) for key, value in data.items())


# -- cert -------------------------------------------------------------------------------------
@cert_app.command("list")
def cert_list(server: ServerOpt, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Get-ExchangeCertificate: Thumbprint, Services, Subject."""
    views = read_with(db, lambda application: application.certificates.list_certificates(server))
    _show_views(views, as_json)


@cert_app.command("show")
def cert_show(
    thumbprint: ThumbArg, server: ServerOpt, db: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Get-ExchangeCertificate | Format-List for one certificate."""
    view = open_app(db).certificates.show_certificate(server, as_thumbprint(thumbprint))
    if as_json:
        render.print_json(view.to_json())
    else:
        console().print(render.format_list(view), markup=False)


@cert_app.command("tls-name")
def cert_tls_name(thumbprint: ThumbArg, server: ServerOpt, db: DbOpt = None) -> None:
    """The certificate's TlsCertificateName: <I>issuer<S>subject (for connectors)."""
    name = open_app(db).connectors.tls_certificate_name(server, as_thumbprint(thumbprint))
    typer.echo(name)


ForceOpt = Annotated[
    bool, typer.Option("--force", help="Answer yes: replace the default SMTP certificate.")
]
KeepOpt = Annotated[
    bool,
    typer.Option("--keep-default-smtp", help="Answer no: enable SMTP, keep the default."),
]
DomainOpt = Annotated[
    list[str] | None, typer.Option("--domain", help="Domain name (SAN); repeatable.")
]
SubjectOpt = Annotated[
    str,
    typer.Option("--subject", help='X.500 subject, e.g. "c=NL, O=Contoso, CN=mail.contoso.com".'),
]
ExportableOpt = Annotated[
    bool, typer.Option("--exportable", help="Make the private key exportable.")
]
KeySizeOpt = Annotated[int, typer.Option("--key-size", help="RSA key size in bits.")]
FriendlyOpt = Annotated[str | None, typer.Option("--friendly-name", help="Friendly name.")]


def _services(text: str) -> ServiceSet:
    from certward.model import ServiceSet

    return parse(ServiceSet.parse, text)


def _report_enable(result: Any) -> None:
    view = result.view
    console().print(f"{view.thumbprint}  {view.services.flags}  {view.subject}", markup=False)
    if result.default_smtp_changed:
        console().print(f"{view.thumbprint} is now the default SMTP certificate.", markup=False)
    if result.iis_moved_from:
        console().print(f"IIS moved from {result.iis_moved_from}.", markup=False)


@cert_app.command("new")
def cert_new(
    server: ServerOpt,
    subject: SubjectOpt,
    domain: DomainOpt = None,
    exportable: ExportableOpt = False,
    services: Annotated[
        str, typer.Option("--services", help="Services to enable (default IMAP,POP,SMTP).")
    ] = "",
    key_size: KeySizeOpt = 2048,
    days: Annotated[int | None, typer.Option("--days", help="Validity in days.")] = None,
    friendly_name: FriendlyOpt = None,
    force: ForceOpt = False,
    keep_default_smtp: KeepOpt = False,
    db: DbOpt = None,
) -> None:
    """New-ExchangeCertificate: a self-signed certificate."""
    application = open_app(db)
    wanted = _services(services) if services else None
    result = _ask_default_smtp(
        lambda answer: application.certificates.new_self_signed(
            server,
            subject=subject,
            domains=domain or [],
            exportable=exportable,
            services=wanted,
            key_size=key_size,
            days=days,
            friendly_name=friendly_name,
            replace_default_smtp=answer,
        ),
        force,
        keep_default_smtp,
    )
    _report_enable(result)


@cert_app.command("request")
def cert_request(
    server: ServerOpt,
    subject: SubjectOpt,
    out: Annotated[Path | None, typer.Option("--out", help="Where to write the request.")] = None,
    domain: DomainOpt = None,
    exportable: ExportableOpt = False,
    key_size: KeySizeOpt = 2048,
    friendly_name: FriendlyOpt = None,
    binary: Annotated[bool, typer.Option("--binary", help="DER instead of PEM.")] = False,
    force_out: inputs.OverwriteOpt = False,
    acme: Annotated[
        bool, typer.Option("--acme", help="Obtain it now from the ACME account's CA.")
    ] = False,
    challenge: acme_cmd.ChallengeOpt = "http-01",
    challenge_option: acme_cmd.ChallengeOptionOpt = None,
    account: acme_cmd.AccountOpt = None,
    db: DbOpt = None,
) -> None:
    """New-ExchangeCertificate -GenerateRequest: write a CSR; the request stays pending.
    With --acme the certificate is obtained through ACME and completes the request."""
    if acme:
        acme_cmd.cert_request_acme(
            server=server,
            subject=subject,
            domains=domain or [],
            exportable=exportable,
            key_size=key_size,
            friendly_name=friendly_name,
            challenge=challenge,
            challenge_options=challenge_option or [],
            account=account,
            db=db,
        )
        return
    if out is None:
        from certward.codes.general import INPUT_MISSING

        raise INPUT_MISSING("the request needs a file to go to (--out FILE), or --acme")
    inputs.check_output(out, force=force_out)
    view = open_app(db).certificates.request_certificate(
        server,
        subject=subject,
        domains=domain or [],
        exportable=exportable,
        key_size=key_size,
        friendly_name=friendly_name,
        binary=binary,
        sink=lambda data: inputs.write_file(out, data, force=force_out),
    )
    console().print(f"{view.thumbprint}  {view.status.value}  {view.subject}", markup=False)
    console().print(f"Request written to {out}", markup=False)


@cert_app.command("import")
def cert_import(
    server: ServerOpt,
    file: Annotated[Path, typer.Argument(help="PEM, DER, .p7b or .pfx file.")],
    password_file: PasswordFileOpt = None,
    exportable: ExportableOpt = False,
    db: DbOpt = None,
) -> None:
    """Import-ExchangeCertificate: a CA reply completes its request; a PFX brings its key."""
    data = inputs.read_file(file)
    password = inputs.read_password(password_file, required=False)
    result = open_app(db).certificates.import_file(
        server, data, source=str(file), password=password, exportable=exportable
    )
    for store, thumb, subject in result.chain_added:
        console().print(f"Added to {store.value}: {thumb}  {subject}", markup=False)
    for warning in result.warnings:
        render.error_console().print(f"warning: {warning}", markup=False)
    if result.completed_request:
        console().print("Completed the pending request.", markup=False)
    console().print(result.thumbprint, markup=False)


@cert_app.command("enable")
def cert_enable(
    thumbprint: ThumbArg,
    server: ServerOpt,
    services: Annotated[str, typer.Option("--services", help="e.g. IIS,SMTP")],
    force: ForceOpt = False,
    keep_default_smtp: KeepOpt = False,
    db: DbOpt = None,
) -> None:
    """Enable-ExchangeCertificate: add services (IIS moves; SMTP asks about the default)."""
    application = open_app(db)
    wanted = _services(services)
    thumb = as_thumbprint(thumbprint)
    result = _ask_default_smtp(
        lambda answer: application.certificates.enable(
            server, thumb, wanted, replace_default_smtp=answer
        ),
        force,
        keep_default_smtp,
    )
    _report_enable(result)


@cert_app.command("export")
def cert_export(
    thumbprint: ThumbArg,
    server: ServerOpt,
    out: Annotated[Path, typer.Option("--out", help="The .pfx file to write.")],
    password_file: PasswordFileOpt = None,
    legacy_encryption: Annotated[
        bool,
        typer.Option("--legacy-encryption", help="3DES/SHA-1 for Windows Server 2016 and older."),
    ] = False,
    force_out: inputs.OverwriteOpt = False,
    db: DbOpt = None,
) -> None:
    """Export-ExchangeCertificate: a password-protected PFX with the chain."""
    thumb = as_thumbprint(thumbprint)
    inputs.check_output(out, force=force_out)
    password = inputs.read_password(password_file, confirm=True, required=True)
    assert password is not None
    data = open_app(db).certificates.export_pfx(
        server, thumb, password=password, legacy=legacy_encryption, destination=str(out)
    )
    inputs.write_file(out, data, private=True, force=force_out)
    console().print(f"Exported {thumb} to {out}", markup=False)


@cert_app.command("renew")
def cert_renew(
    thumbprint: ThumbArg,
    server: ServerOpt,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the new request (CA-issued).")
    ] = None,
    binary: Annotated[bool, typer.Option("--binary", help="DER instead of PEM.")] = False,
    force_out: inputs.OverwriteOpt = False,
    db: DbOpt = None,
) -> None:
    """Renew: self-signed into a new certificate; CA-issued into a new request."""
    inputs.check_output(out, force=force_out)
    sink = (lambda data: inputs.write_file(out, data, force=force_out)) if out is not None else None
    result = open_app(db).certificates.renew(
        server, as_thumbprint(thumbprint), sink=sink, binary=binary
    )
    if result.pending_request:
        console().print(f"New request {result.new} written to {out}", markup=False)
    else:
        console().print(f"Renewed {result.old} as {result.new}", markup=False)
    console().print(result.new, markup=False)


@cert_app.command("remove")
def cert_remove(
    thumbprint: ThumbArg,
    server: ServerOpt,
    force: Annotated[bool, typer.Option("--force", help="Remove even while in use.")] = False,
    db: DbOpt = None,
) -> None:
    """Remove-ExchangeCertificate."""
    thumb = as_thumbprint(thumbprint)
    open_app(db).certificates.remove(server, thumb, force=force)
    console().print(f"Removed {thumb}", markup=False)


# -- store ------------------------------------------------------------------------------------
StoreOpt = Annotated[str, typer.Option("--store", help="Root or CA.")]


@store_app.command("list")
def store_list(
    server: ServerOpt, store: StoreOpt, db: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Certificates in the Root or CA store."""
    from certward.model import StoreName

    views = open_app(db).stores.store_list(server, parse(StoreName.parse, store))
    _show_views(views, as_json)


@store_app.command("add")
def store_add(
    server: ServerOpt,
    store: StoreOpt,
    file: Annotated[Path, typer.Argument(help="PEM bundle, DER or PKCS#7 file.")],
    db: DbOpt = None,
) -> None:
    """Add one or many certificates (a bundle of hundreds goes in one call)."""
    from certward.model import StoreName
    from certward.services.stores import TrustBundle

    store_name = parse(StoreName.parse, store)
    # Read, and its facts started on (by a helper process, for a large bundle), before the
    # store is opened: opening it loads the ORM, time the helper puts to use.
    with TrustBundle(inputs.read_file(file), source=str(file)) as bundle:
        result = open_app(db).stores.store_add_bundle(server, store_name, bundle)
    lines = [f"Added {thumb}  {subject}" for thumb, subject in result.added]
    lines.append(f"{len(result.added)} added, {len(result.already_present)} already present")
    # Plain lines, as rich prints them without markup or wrapping (its control codes
    # dropped) but without its rendering: 0.1 s for a bundle of 10,000, and a subject's
    # ":name:" left as it is rather than made an emoji.
    from rich.control import strip_control_codes

    typer.echo(strip_control_codes("\n".join(lines)))


@store_app.command("remove")
def store_remove(
    thumbprint: Annotated[
        list[str], typer.Argument(metavar="THUMBPRINT...", help="One or more thumbprints.")
    ],
    server: ServerOpt,
    store: StoreOpt,
    db: DbOpt = None,
) -> None:
    """Remove certificates from the Root or CA store (many at once: seed 001's fix)."""
    from certward.model import StoreName

    thumbs = [as_thumbprint(t) for t in thumbprint]
    open_app(db).stores.store_remove(server, parse(StoreName.parse, store), *thumbs)
    for thumb in thumbs:
        console().print(f"Removed {thumb}", markup=False)


def main() -> None:
    """The ``certward`` command: run the command line with the collector off (a command
    that runs on turns it on: :mod:`certward.collector`), then leave the process's objects
    out of the garbage collections at interpreter exit."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        app()
    finally:
        # At exit the interpreter runs full collections over every object the command
        # loaded (some 50,000 modules' functions, classes and constants for a probe: 70 ms
        # of its 450, a sixth), though the modules are torn down by their references all
        # the same (issue 16). Frozen, nothing is traversed again; only reference cycles the
        # command left behind go unfreed, and Python does not promise their finalizers at
        # exit anyway.
        gc.freeze()
        if collecting:  # a caller in the same process (a test) gets it back as it was
            gc.enable()
