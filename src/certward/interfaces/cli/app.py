"""``certward``: commands and flags are the contract (issue 2); each verb is a thin layer."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from certward.compose import App, build_app
from certward.errors import CertwardError, InputError
from certward.interfaces.cli import inputs, render
from certward.model import (
    ExchangeVersion,
    Role,
    ServiceSet,
    StoreName,
    Thumbprint,
    parse_thumbprint,
)
from certward.services.lifecycle import DefaultSmtpConfirmation
from certward.services.views import CertificateView

T = TypeVar("T")


class _Group(TyperGroup):
    """Maps every CertwardError to one ``error: ...`` line and a non-zero exit status."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CertwardError as exc:
            render.error_console().print(f"error: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None


def _typer(help_text: str) -> typer.Typer:
    return typer.Typer(
        help=help_text,
        cls=_Group,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )


app = _typer("certward: the certificates and TLS of an Exchange-style organisation.")
org_app = _typer("The organisation and its OAuth auth certificate.")
server_app = _typer("Servers, their roles and versions.")
cert_app = _typer("Certificates in a server's personal (My) store: the Exchange cmdlets.")
store_app = _typer("A server's trusted roots (Root) and intermediates (CA).")
app.add_typer(org_app, name="org")
app.add_typer(server_app, name="server")
app.add_typer(cert_app, name="cert")
app.add_typer(store_app, name="store")

# -- shared options ----------------------------------------------------------------------
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="PATH_OR_URL",
        help="Database file or SQLAlchemy URL (default: $CERTWARD_DB, else the data directory).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ServerOpt = Annotated[str, typer.Option("--server", "-s", help="Server name.")]
ThumbArg = Annotated[str, typer.Argument(metavar="THUMBPRINT", help="Certificate thumbprint.")]
PasswordFileOpt = Annotated[
    Path | None, typer.Option("--password-file", help="File whose first line is the password.")
]


_root_db: ContextVar[str | None] = ContextVar("certward_root_db", default=None)


@app.callback()
def _root(db: DbOpt = None) -> None:
    _root_db.set(db)


def _open(db: str | None) -> App:
    """The application for this command: its own --db, else the top-level --db."""
    return build_app(db or _root_db.get())


def _thumb(text: str) -> Thumbprint:
    try:
        return parse_thumbprint(text)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _parse(parser: Callable[[str], T], value: str) -> T:
    try:
        return parser(value)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _out() -> Any:
    return render.console()


def _show_views(views: list[CertificateView], as_json: bool, title: str | None = None) -> None:
    if as_json:
        render.print_json([view.to_json() for view in views])
    else:
        _out().print(render.certificate_table(views, title=title))


def _ask_default_smtp(action: Callable[[bool | None], T], force: bool, keep_default: bool) -> T:
    """Run ``action``; answer Exchange's default-SMTP question from the flags or a terminal."""
    if force and keep_default:
        raise InputError("--force and --keep-default-smtp contradict each other")
    answer: bool | None = True if force else False if keep_default else None
    try:
        return action(answer)
    except DefaultSmtpConfirmation as question:
        if not sys.stdin.isatty():
            raise
        typer.echo(question.question.text)  # plain: a terminal must not re-wrap it
        reply = typer.prompt(
            '[Y] Yes  [A] Yes to All  [N] No  [L] No to All  [?] Help (default is "Y")',
            default="Y",
            show_default=False,
        )
        return action(reply.strip().upper()[:1] in ("Y", "A", ""))


# -- quickstart and inventory ----------------------------------------------------------------
@app.command()
def quickstart(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Build a demo organisation (seed 002's scenario) and print its certificate inventory."""
    from certward.clock import SystemClock
    from certward.services.demo import build_demo

    application = _open(db)
    result = build_demo(application.lifecycle, SystemClock())
    if not as_json:
        if result.created:
            _out().print(
                "Built the demo organisation Contoso: EXCH01 requested webmail.p365labs.com, "
                "a demo CA answered, the certificate was enabled for IIS,SMTP (keeping the "
                "self-signed default SMTP certificate), exported and imported on EXCH02.",
                markup=False,
            )
        else:
            _out().print("The store already holds an organisation; its inventory:")
        _out().print(f"Database: {application.settings.database_url}", markup=False)
    _inventory(application, as_json)


@app.command()
def inventory(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Every server's certificates, with services, status and expiry."""
    _inventory(_open(db), as_json)


def _inventory(application: App, as_json: bool) -> None:
    lifecycle = application.lifecycle
    servers = lifecycle.servers()
    if as_json:
        render.print_json(
            [
                {
                    **_server_json(summary.server, summary.certificate_count),
                    "certificates": [
                        v.to_json() for v in lifecycle.list_certificates(summary.server.name)
                    ],
                }
                for summary in servers
            ]
        )
        return
    for summary in servers:
        views = lifecycle.list_certificates(summary.server.name)
        _out().print()
        title = f"{summary.server.name} (My)"
        _out().print(render.certificate_table(views, title=title, detailed=True))


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
    org = _open(db).lifecycle.init_organisation(name, domain=domain)
    _out().print(f"Organisation {org.name} created.", markup=False)
    _out().print(f"Auth certificate: {org.auth_thumbprint}", markup=False)


@org_app.command("show")
def org_show(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """The organisation: name, domain, auth certificate."""
    org = _open(db).lifecycle.organisation()
    data = {"name": org.name, "domain": org.domain, "auth_thumbprint": org.auth_thumbprint}
    if as_json:
        render.print_json(data)
    else:
        _out().print(
            render.simple_table(
                ["Name", "Domain", "AuthCertificate"],
                [[org.name, org.domain or "", org.auth_thumbprint or ""]],
            )
        )


# -- server -----------------------------------------------------------------------------------
def _server_json(server: Any, count: int) -> dict[str, Any]:
    return {
        "name": server.name,
        "fqdn": server.fqdn,
        "roles": sorted(role.value for role in server.roles),
        "version": int(server.version),
        "default_smtp_thumbprint": server.default_smtp_thumbprint,
        "certificate_count": count,
    }


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
    roles = [_parse(Role.parse, value) for value in role or []]
    server = _open(db).lifecycle.add_server(
        name, fqdn=fqdn, roles=roles, version=_parse(ExchangeVersion.parse, version)
    )
    _out().print(f"Server {server.name} ({server.fqdn}) added.", markup=False)
    if server.default_smtp_thumbprint:
        _out().print(f"Self-signed certificate: {server.default_smtp_thumbprint}", markup=False)


@server_app.command("list")
def server_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """The organisation's servers."""
    summaries = _open(db).lifecycle.servers()
    if as_json:
        render.print_json([_server_json(s.server, s.certificate_count) for s in summaries])
        return
    rows = [
        [
            s.server.name,
            s.server.fqdn,
            ", ".join(sorted(r.value for r in s.server.roles)),
            str(int(s.server.version)),
            s.server.default_smtp_thumbprint or "",
            str(s.certificate_count),
        ]
        for s in summaries
    ]
    _out().print(
        render.simple_table(
            ["Name", "Fqdn", "Roles", "Version", "DefaultSmtpCertificate", "Certificates"], rows
        )
    )


@server_app.command("show")
def server_show(
    name: Annotated[str, typer.Argument(help="Server name.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One server."""
    lifecycle = _open(db).lifecycle
    server = lifecycle.server(name)
    data = _server_json(server, len(lifecycle.list_certificates(server.name)))
    if as_json:
        render.print_json(data)
    else:
        for key, value in data.items():
            _out().print(f"{key:24} : {value}", markup=False)


# -- cert -------------------------------------------------------------------------------------
@cert_app.command("list")
def cert_list(server: ServerOpt, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Get-ExchangeCertificate: Thumbprint, Services, Subject."""
    _show_views(_open(db).lifecycle.list_certificates(server), as_json)


@cert_app.command("show")
def cert_show(
    thumbprint: ThumbArg, server: ServerOpt, db: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Get-ExchangeCertificate | Format-List for one certificate."""
    view = _open(db).lifecycle.show_certificate(server, _thumb(thumbprint))
    if as_json:
        render.print_json(view.to_json())
    else:
        _out().print(render.format_list(view), markup=False)


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
    return _parse(ServiceSet.parse, text)


def _report_enable(result: Any) -> None:
    view = result.view
    _out().print(f"{view.thumbprint}  {view.services.flags}  {view.subject}", markup=False)
    if result.default_smtp_changed:
        _out().print(f"{view.thumbprint} is now the default SMTP certificate.", markup=False)
    if result.iis_moved_from:
        _out().print(f"IIS moved from {result.iis_moved_from}.", markup=False)


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
    lifecycle = _open(db).lifecycle
    wanted = _services(services) if services else None
    result = _ask_default_smtp(
        lambda answer: lifecycle.new_self_signed(
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
    out: Annotated[Path, typer.Option("--out", help="Where to write the request.")],
    domain: DomainOpt = None,
    exportable: ExportableOpt = False,
    key_size: KeySizeOpt = 2048,
    friendly_name: FriendlyOpt = None,
    binary: Annotated[bool, typer.Option("--binary", help="DER instead of PEM.")] = False,
    db: DbOpt = None,
) -> None:
    """New-ExchangeCertificate -GenerateRequest: write a CSR; the request stays pending."""
    view = _open(db).lifecycle.request_certificate(
        server,
        subject=subject,
        domains=domain or [],
        exportable=exportable,
        key_size=key_size,
        friendly_name=friendly_name,
        binary=binary,
        sink=lambda data: inputs.write_file(out, data),
    )
    _out().print(f"{view.thumbprint}  {view.status.value}  {view.subject}", markup=False)
    _out().print(f"Request written to {out}", markup=False)


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
    result = _open(db).lifecycle.import_file(
        server, data, source=str(file), password=password, exportable=exportable
    )
    for store, thumb, subject in result.chain_added:
        _out().print(f"Added to {store.value}: {thumb}  {subject}", markup=False)
    for warning in result.warnings:
        render.error_console().print(f"warning: {warning}", markup=False)
    if result.completed_request:
        _out().print("Completed the pending request.", markup=False)
    _out().print(result.thumbprint, markup=False)


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
    lifecycle = _open(db).lifecycle
    wanted = _services(services)
    thumb = _thumb(thumbprint)
    result = _ask_default_smtp(
        lambda answer: lifecycle.enable(server, thumb, wanted, replace_default_smtp=answer),
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
    db: DbOpt = None,
) -> None:
    """Export-ExchangeCertificate: a password-protected PFX with the chain."""
    thumb = _thumb(thumbprint)
    password = inputs.read_password(password_file, confirm=True, required=True)
    assert password is not None
    data = _open(db).lifecycle.export_pfx(
        server, thumb, password=password, legacy=legacy_encryption
    )
    inputs.write_file(out, data, private=True)
    _out().print(f"Exported {thumb} to {out}", markup=False)


@cert_app.command("renew")
def cert_renew(
    thumbprint: ThumbArg,
    server: ServerOpt,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the new request (CA-issued).")
    ] = None,
    binary: Annotated[bool, typer.Option("--binary", help="DER instead of PEM.")] = False,
    db: DbOpt = None,
) -> None:
    """Renew: self-signed into a new certificate; CA-issued into a new request."""
    sink = (lambda data: inputs.write_file(out, data)) if out is not None else None
    result = _open(db).lifecycle.renew(server, _thumb(thumbprint), sink=sink, binary=binary)
    if result.pending_request:
        _out().print(f"New request {result.new} written to {out}", markup=False)
    else:
        _out().print(f"Renewed {result.old} as {result.new}", markup=False)
    _out().print(result.new, markup=False)


@cert_app.command("remove")
def cert_remove(
    thumbprint: ThumbArg,
    server: ServerOpt,
    force: Annotated[bool, typer.Option("--force", help="Remove even while in use.")] = False,
    db: DbOpt = None,
) -> None:
    """Remove-ExchangeCertificate."""
    thumb = _thumb(thumbprint)
    _open(db).lifecycle.remove(server, thumb, force=force)
    _out().print(f"Removed {thumb}", markup=False)


# -- store ------------------------------------------------------------------------------------
StoreOpt = Annotated[str, typer.Option("--store", help="Root or CA.")]


@store_app.command("list")
def store_list(
    server: ServerOpt, store: StoreOpt, db: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Certificates in the Root or CA store."""
    views = _open(db).lifecycle.store_list(server, _parse(StoreName.parse, store))
    _show_views(views, as_json)


@store_app.command("add")
def store_add(
    server: ServerOpt,
    store: StoreOpt,
    file: Annotated[Path, typer.Argument(help="PEM bundle, DER or PKCS#7 file.")],
    db: DbOpt = None,
) -> None:
    """Add one or many certificates (a bundle of hundreds goes in one call)."""
    result = _open(db).lifecycle.store_add(
        server, _parse(StoreName.parse, store), inputs.read_file(file), source=str(file)
    )
    for thumb, subject in result.added:
        _out().print(f"Added {thumb}  {subject}", markup=False)
    _out().print(
        f"{len(result.added)} added, {len(result.already_present)} already present", markup=False
    )


@store_app.command("remove")
def store_remove(
    thumbprint: ThumbArg, server: ServerOpt, store: StoreOpt, db: DbOpt = None
) -> None:
    """Remove a certificate from the Root or CA store."""
    thumb = _thumb(thumbprint)
    _open(db).lifecycle.store_remove(server, _parse(StoreName.parse, store), thumb)
    _out().print(f"Removed {thumb}", markup=False)


def main() -> None:
    app()
