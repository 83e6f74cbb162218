"""The quickstart: a small demo organisation that walks through seed 002.

EXCH01 requests a third-party certificate, a demo CA (root + intermediate) answers with a
.p7b, the reply completes the request, the certificate is enabled for IIS and SMTP keeping
the self-signed default SMTP certificate, exported as PFX, imported on EXCH02 and enabled
there; both servers' virtual directories use its name inside and out. The hybrid Send
connector to Exchange Online and both Default Frontend receive connectors name it in
TlsCertificateName. EDGE01 keeps its self-signed SMTP certificate.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from certward.clock import Clock
from certward.errors import NotFoundError
from certward.model import (
    ConnectorKind,
    Password,
    Role,
    ServiceSet,
    SmartHost,
    Thumbprint,
    TlsAuthLevel,
)
from certward.pki import ca
from certward.services.certificates import CertificateService
from certward.services.connectors import Connectors, ConnectorSettings
from certward.services.organisation import OrganisationService
from certward.services.vdirs import VdirService

DEMO_ORGANISATION = "Contoso"
DEMO_SUBJECT = "c=NL, S=Noord-Holland, L=Amsterdam, O=Contoso, OU=RND, CN=webmail.p365labs.com"
DEMO_DOMAINS = ("webmail.p365labs.com", "Autodiscover.p365labs.com")


@dataclass(frozen=True)
class DemoResult:
    created: bool
    webmail_thumbprint: Thumbprint | None


def build_demo(
    organisation: OrganisationService,
    certificates: CertificateService,
    connectors: Connectors,
    vdirs: VdirService,
    clock: Clock,
) -> DemoResult:
    """Build the demo organisation unless the store already holds an organisation."""
    try:
        organisation.organisation()
    except NotFoundError:
        pass  # an empty store: build the demo
    else:
        return DemoResult(created=False, webmail_thumbprint=None)

    organisation.init_organisation(DEMO_ORGANISATION, domain="contoso.com")
    organisation.add_server("EXCH01", fqdn="exch01.contoso.com", roles=[Role.MAILBOX])
    organisation.add_server("EXCH02", fqdn="exch02.contoso.com", roles=[Role.MAILBOX])
    organisation.add_server("EDGE01", fqdn="edge01.contoso.com", roles=[Role.EDGE_TRANSPORT])

    requests: list[bytes] = []
    certificates.request_certificate(
        "EXCH01",
        subject=DEMO_SUBJECT,
        domains=DEMO_DOMAINS,
        exportable=True,
        sink=requests.append,
    )
    now = clock.now()
    root = ca.make_root("Contoso Demo Root CA", now=now)
    issuing = ca.make_intermediate(root, "Contoso Demo Issuing CA", now=now)
    csr = x509.load_pem_x509_csr(requests[0])
    reply = ca.issue(issuing, csr, now=now)
    p7b = pkcs7.serialize_certificates(
        [reply, issuing.certificate, root.certificate], serialization.Encoding.DER
    )
    imported = certificates.import_file("EXCH01", p7b, source="webmail_p365labs_com.p7b")
    webmail = imported.thumbprint
    certificates.enable("EXCH01", webmail, ServiceSet.parse("IIS,SMTP"), replace_default_smtp=False)
    password = Password(b"demo-only-password")
    pfx = certificates.export_pfx("EXCH01", webmail, password=password)
    certificates.import_file(
        "EXCH02", pfx, source="webmail_p365labs_com.pfx", password=password, exportable=True
    )
    certificates.enable("EXCH02", webmail, ServiceSet.parse("IIS,SMTP"), replace_default_smtp=False)
    # The hybrid connectors that seed 002 says must name the certificate.
    connectors.add(
        ConnectorKind.SEND,
        "Outbound to Office 365",
        ["EXCH01", "EXCH02"],
        ConnectorSettings(
            address_spaces=("contoso.mail.onmicrosoft.com",),
            smart_hosts=(SmartHost("contoso-com.mail.protection.outlook.com"),),
            require_tls=True,
            tls_auth_level=TlsAuthLevel.DOMAIN_VALIDATION,
            tls_domain="mail.protection.outlook.com",
            tls_certificate=webmail,
            cloud_services_mail_enabled=True,
        ),
    )
    for server in ("EXCH01", "EXCH02"):
        connectors.set(
            f"{server}\\Default Frontend {server}", ConnectorSettings(tls_certificate=webmail)
        )
        # Clients reach both servers by the certificate's name, inside and out (seed 002).
        for vdir in vdirs.list(server):
            url = f"https://{DEMO_DOMAINS[0]}{vdir.path}"
            vdirs.set(server, vdir.name, internal_url=url, external_url=url)
    return DemoResult(created=True, webmail_thumbprint=webmail)
