"""``certward connector`` and ``certward transport``: connectors and domain-secure lists."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from certward.interfaces.cli import render
from certward.interfaces.cli.common import (
    DbOpt,
    JsonOpt,
    as_thumbprint,
    console,
    new_typer,
    open_app,
    parse,
)
from certward.model import Binding, ConnectorKind, SmartHost, TlsAuthLevel
from certward.model.connectors import parse_auth_mechanism

if TYPE_CHECKING:
    from certward.services.connectors import ConnectorSettings, ConnectorView

connector_app = new_typer("Send and Receive connectors and their TLS certificate names.")
transport_app = new_typer("Organisation-wide transport settings (domain security).")
domain_secure_app = new_typer("TLSSendDomainSecureList and TLSReceiveDomainSecureList.")
transport_app.add_typer(domain_secure_app, name="domain-secure")

KindArg = Annotated[str, typer.Argument(metavar="send|receive", help="Connector kind.")]
NameArg = Annotated[str, typer.Argument(help="Connector name (or SERVER\\Name).")]
ServersOpt = Annotated[
    list[str] | None, typer.Option("--server", "-s", help="Server (repeatable for send).")
]
FqdnOpt = Annotated[str | None, typer.Option("--fqdn", help="FQDN in HELO/EHLO and banner.")]
BindOpt = Annotated[
    list[str] | None, typer.Option("--bind", help="HOST:PORT to listen on (receive).")
]
SpaceOpt = Annotated[
    list[str] | None, typer.Option("--address-space", help="Address space (send, repeatable).")
]
SmartOpt = Annotated[
    list[str] | None, typer.Option("--smart-host", help="HOST[:PORT] (send, repeatable).")
]
AuthOpt = Annotated[
    str | None, typer.Option("--auth-mechanism", help="e.g. Tls,BasicAuth,BasicAuthRequireTLS")
]
RequireTlsOpt = Annotated[
    bool | None, typer.Option("--require-tls/--no-require-tls", help="RequireTLS.")
]
LevelOpt = Annotated[
    str | None,
    typer.Option(
        "--tls-auth-level", help="EncryptionOnly, CertificateValidation, DomainValidation (send)."
    ),
]
TlsDomainOpt = Annotated[str | None, typer.Option("--tls-domain", help="TlsDomain (send).")]
SecureOpt = Annotated[
    bool | None, typer.Option("--domain-secure/--no-domain-secure", help="DomainSecureEnabled.")
]
IgnoreOpt = Annotated[
    bool | None,
    typer.Option("--ignore-starttls/--no-ignore-starttls", help="IgnoreSTARTTLS (send)."),
]
NameOpt = Annotated[
    str | None,
    typer.Option("--tls-certificate-name", help='"<I>issuer<S>subject" ("" clears it).'),
]
CertOpt = Annotated[
    str | None,
    typer.Option("--tls-certificate", help="Thumbprint: build the name from this certificate."),
]
CloudOpt = Annotated[
    bool | None,
    typer.Option(
        "--cloud-services-mail/--no-cloud-services-mail",
        help="Hybrid connector to/from Exchange Online (CloudServicesMailEnabled).",
    ),
]


def _settings(
    fqdn: str | None,
    bind: list[str] | None,
    address_space: list[str] | None,
    smart_host: list[str] | None,
    auth_mechanism: str | None,
    require_tls: bool | None,
    tls_auth_level: str | None,
    tls_domain: str | None,
    domain_secure: bool | None,
    ignore_starttls: bool | None,
    tls_certificate_name: str | None,
    tls_certificate: str | None,
    cloud_services_mail: bool | None,
) -> ConnectorSettings:
    from certward.services.connectors import ConnectorSettings

    return ConnectorSettings(
        fqdn=fqdn,
        bindings=tuple(parse(Binding.parse, b) for b in bind) if bind else None,
        address_spaces=tuple(a.strip() for a in address_space) if address_space else None,
        smart_hosts=tuple(parse(SmartHost.parse, h) for h in smart_host) if smart_host else None,
        auth_mechanism=parse(parse_auth_mechanism, auth_mechanism) if auth_mechanism else None,
        require_tls=require_tls,
        tls_auth_level=parse(TlsAuthLevel.parse, tls_auth_level) if tls_auth_level else None,
        tls_domain=tls_domain,
        domain_secure_enabled=domain_secure,
        tls_certificate_name=tls_certificate_name,
        tls_certificate=as_thumbprint(tls_certificate) if tls_certificate else None,
        ignore_starttls=ignore_starttls,
        cloud_services_mail_enabled=cloud_services_mail,
    )


def _kind(text: str) -> ConnectorKind:
    try:
        return ConnectorKind(text.strip().lower())
    except ValueError:
        raise ValueError(f"connector kind must be send or receive, not {text!r}") from None


def _print(view: ConnectorView, as_json: bool) -> None:
    data = view.to_json()
    if as_json:
        render.print_json(data)
        return
    fields: list[tuple[str, object]] = []
    for key, value in data.items():
        if key == "tls_certificate_resolution":
            fields += [
                (f"ResolvesOn{r['server']}", f"{r['status']} {r['thumbprint'] or ''}".strip())
                for r in value
            ]
        else:
            fields.append((render.pascal(key), value))
    render.print_fields(fields)


@connector_app.command("add")
def connector_add(
    kind: KindArg,
    name: NameArg,
    server: ServersOpt = None,
    fqdn: FqdnOpt = None,
    bind: BindOpt = None,
    address_space: SpaceOpt = None,
    smart_host: SmartOpt = None,
    auth_mechanism: AuthOpt = None,
    require_tls: RequireTlsOpt = None,
    tls_auth_level: LevelOpt = None,
    tls_domain: TlsDomainOpt = None,
    domain_secure: SecureOpt = None,
    ignore_starttls: IgnoreOpt = None,
    tls_certificate_name: NameOpt = None,
    tls_certificate: CertOpt = None,
    cloud_services_mail: CloudOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """New-SendConnector / New-ReceiveConnector, with Exchange's validity rules."""
    connector_kind = parse(_kind, kind)
    settings = _settings(
        fqdn, bind, address_space, smart_host, auth_mechanism, require_tls, tls_auth_level,
        tls_domain, domain_secure, ignore_starttls, tls_certificate_name, tls_certificate,
        cloud_services_mail,
    )  # fmt: skip
    view = open_app(db).connectors.add(connector_kind, name, server or [], settings)
    _print(view, as_json)


@connector_app.command("set")
def connector_set(
    name: NameArg,
    server: ServersOpt = None,
    fqdn: FqdnOpt = None,
    bind: BindOpt = None,
    address_space: SpaceOpt = None,
    smart_host: SmartOpt = None,
    auth_mechanism: AuthOpt = None,
    require_tls: RequireTlsOpt = None,
    tls_auth_level: LevelOpt = None,
    tls_domain: TlsDomainOpt = None,
    domain_secure: SecureOpt = None,
    ignore_starttls: IgnoreOpt = None,
    tls_certificate_name: NameOpt = None,
    tls_certificate: CertOpt = None,
    cloud_services_mail: CloudOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set-SendConnector / Set-ReceiveConnector: change only the options given."""
    settings = _settings(
        fqdn, bind, address_space, smart_host, auth_mechanism, require_tls, tls_auth_level,
        tls_domain, domain_secure, ignore_starttls, tls_certificate_name, tls_certificate,
        cloud_services_mail,
    )  # fmt: skip
    view = open_app(db).connectors.set(name, settings, servers=server or [])
    _print(view, as_json)


@connector_app.command("list")
def connector_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """All connectors with the status of their TlsCertificateName."""
    views = open_app(db).connectors.list()
    if as_json:
        render.print_json([v.to_json() for v in views])
        return
    rows = []
    for v in views:
        data = v.to_json()
        rows.append([
            data["identity"], data["kind"], ", ".join(data["bindings"] or data["address_spaces"]),
            ", ".join(data["auth_mechanism"]), "yes" if data["require_tls"] else "no",
            data["tls_certificate_name_status"],
        ])  # fmt: skip
    console().print(
        render.simple_table(
            [
                "Identity",
                "Kind",
                "Bindings/AddressSpaces",
                "AuthMechanism",
                "RequireTLS",
                "TlsCertificateName",
            ],
            rows,
        )
    )


@connector_app.command("show")
def connector_show(name: NameArg, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """One connector, with where its TlsCertificateName resolves on each server."""
    _print(open_app(db).connectors.show(name), as_json)


@connector_app.command("remove")
def connector_remove(name: NameArg, db: DbOpt = None) -> None:
    """Remove a connector."""
    open_app(db).connectors.remove(name)
    console().print(f"Removed connector {name}", markup=False)


@transport_app.command("show")
def transport_show(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Get-TransportConfig's domain-secure lists."""
    config = open_app(db).connectors.transport()
    data: dict[str, Any] = {
        "tls_send_domain_secure_list": list(config.tls_send_domain_secure_list),
        "tls_receive_domain_secure_list": list(config.tls_receive_domain_secure_list),
    }
    if as_json:
        render.print_json(data)
    else:
        render.print_fields((render.pascal(key), value) for key, value in data.items())


DirectionArg = Annotated[str, typer.Argument(metavar="send|receive")]
DomainArg = Annotated[str, typer.Argument(help="Domain (no wildcards).")]


@domain_secure_app.command("add")
def domain_secure_add(direction: DirectionArg, domain: DomainArg, db: DbOpt = None) -> None:
    """Add a domain to the send or receive domain-secure list."""
    config = open_app(db).connectors.domain_secure(direction.lower(), domain, add=True)
    listed = getattr(config, f"tls_{direction.lower()}_domain_secure_list")
    console().print(f"{direction.lower()} domain-secure list: {', '.join(listed)}", markup=False)


@domain_secure_app.command("remove")
def domain_secure_remove(direction: DirectionArg, domain: DomainArg, db: DbOpt = None) -> None:
    """Remove a domain from the send or receive domain-secure list."""
    config = open_app(db).connectors.domain_secure(direction.lower(), domain, add=False)
    listed = getattr(config, f"tls_{direction.lower()}_domain_secure_list")
    console().print(f"{direction.lower()} domain-secure list: {', '.join(listed)}", markup=False)
