"""The API's request and response bodies: the same fields, snake_case, as the command
line's ``--json`` (the services' ``to_json`` views are validated into these models, so the
OpenAPI document describes every response)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrganisationOut(Out):
    name: str
    domain: str | None
    auth_thumbprint: str | None


# -- servers and certificates ------------------------------------------------------------------
class ServerOut(Out):
    name: str
    fqdn: str
    roles: list[str]
    version: int
    default_smtp_thumbprint: str | None
    tls_min_version: str
    tls_max_version: str
    send_trusted_issuer_list: bool
    certificate_count: int
    observed: bool


class CertificateOut(Out):
    thumbprint: str
    subject: str
    issuer: str
    certificate_domains: list[str]
    not_before: str | None
    not_after: str | None
    services: list[str]
    services_flags: str
    status: str
    is_self_signed: bool
    has_private_key: bool
    private_key_exportable: bool
    public_key_size: int
    signature_algorithm: str
    serial_number: str
    friendly_name: str
    key_provider: str | None
    is_default_smtp: bool
    is_auth_certificate: bool
    server: str
    store: str


class CertificatePage(Out):
    total: int = Field(description="How many certificates the organisation's servers hold.")
    offset: int
    limit: int
    items: list[CertificateOut]


Answer = Literal["replace", "keep"]
ANSWER_HELP = (
    "The answer to the default SMTP certificate question (problem certificate."
    "smtp_default_overwrite): replace it, or keep it and enable SMTP anyway."
)


class NewCertificateIn(In):
    subject: str = Field(description='X.500 subject, e.g. "C=NL, O=Contoso, CN=mail.contoso.com".')
    domains: list[str] = Field(default_factory=list, description="Domain names (SANs).")
    exportable: bool = False
    services: str | None = Field(
        default=None, description="Services to enable, e.g. IIS,SMTP (default IMAP,POP,SMTP)."
    )
    key_size: int = 2048
    days: int | None = Field(default=None, description="Validity in days.")
    friendly_name: str | None = None
    answer: Answer | None = Field(default=None, description=ANSWER_HELP)


class EnableIn(In):
    services: str = Field(description="Services to add, e.g. IIS,SMTP.")
    answer: Answer | None = Field(default=None, description=ANSWER_HELP)


class EnableOut(Out):
    certificate: CertificateOut
    default_smtp_changed: bool
    iis_moved_from: str | None


class RequestIn(In):
    subject: str = Field(description='X.500 subject, e.g. "CN=mail.contoso.com".')
    domains: list[str] = Field(default_factory=list)
    exportable: bool = False
    key_size: int = 2048
    friendly_name: str | None = None


class RequestOut(Out):
    certificate: CertificateOut
    csr_pem: str = Field(description="The certificate signing request (PKCS #10, PEM).")


class ImportOut(Out):
    thumbprint: str
    completed_request: bool
    chain_added: list[ChainAdded]
    warnings: list[str]


class ChainAdded(Out):
    store: str
    thumbprint: str
    subject: str


class ExportIn(In):
    password: str = Field(min_length=1, description="The PFX password (never in a URL).")
    legacy_encryption: bool = Field(
        default=False, description="3DES/SHA-1 for Windows Server 2016 and older."
    )


class Removed(Out):
    removed: list[str]


class StoreAddOut(Out):
    added: list[ChainAdded]
    already_present: list[str]


# -- connectors ------------------------------------------------------------------------------
class TlsResolution(Out):
    server: str
    status: str
    thumbprint: str | None
    matches: list[str]


class ConnectorOut(Out):
    name: str
    identity: str
    kind: str
    servers: list[str]
    fqdn: str | None
    bindings: list[str]
    address_spaces: list[str]
    smart_hosts: list[str]
    auth_mechanism: list[str]
    require_tls: bool
    tls_auth_level: str | None
    tls_domain: str | None
    domain_secure_enabled: bool
    tls_certificate_name: str | None
    ignore_starttls: bool
    cloud_services_mail_enabled: bool
    tls_certificate_name_status: str
    tls_certificate_resolution: list[TlsResolution]


class TlsNameIn(In):
    tls_certificate_name: str | None = Field(
        default=None, description='"<I>issuer<S>subject"; "" clears it.'
    )
    tls_certificate: str | None = Field(
        default=None, description="A thumbprint: the name is built from this certificate."
    )


# -- the auth certificate ----------------------------------------------------------------------
class AuthCertificateOut(Out):
    thumbprint: str
    not_before: str | None
    not_after: str | None
    missing_on: list[str]


class AuthOut(Out):
    current_certificate_thumbprint: str | None
    next_certificate_thumbprint: str | None
    next_certificate_effective_date: str | None
    previous_certificate_thumbprint: str | None
    service_name: str | None
    realm: str | None
    current: AuthCertificateOut | None
    next: AuthCertificateOut | None
    previous: AuthCertificateOut | None


class MonitorOut(Out):
    as_of: str | None
    decision: str
    reasons: list[str]
    actions: list[str]
    applied: bool
    current_days_left: int | None
    import_to: list[str]
    status: str


# -- health ------------------------------------------------------------------------------------
class Remediation(Out):
    certward: str
    shell: str = Field(description="The Exchange Management Shell equivalent.")


class FindingOut(Out):
    rule: str
    severity: str
    server: str | None
    thumbprint: str | None
    connector: str | None
    message: str
    evidence: dict[str, Any]
    remediation: Remediation


class HealthOut(Out):
    schema_version: int
    as_of: str
    servers: list[str]
    rules_run: int
    counts: dict[str, int]
    exit_status: int
    findings: list[FindingOut]


# -- renewal -----------------------------------------------------------------------------------
class RenewStartIn(In):
    server: str | None = Field(default=None, description="The server for the new request.")


class PlanStep(Out):
    model_config = ConfigDict(extra="allow")

    step: str
    server: str | None
    connector: str | None
    connector_kind: str | None
    services: list[str]
    default_smtp: bool
    tls_certificate_name: str | None
    unchanged: bool
    description: str


class PlanOut(Out):
    old_thumbprint: str
    new_thumbprint: str
    subject: str
    new_not_after: str
    self_signed: bool
    steps: list[PlanStep]
    applied: bool


class RenewStartOut(Out):
    old_thumbprint: str
    request: str | None = Field(description="The new request's thumbprint (CA-issued).")
    csr_pem: str | None = Field(description="The new request (CA-issued).")
    plan: PlanOut | None = Field(description="The plan (self-signed: no CA is needed).")


class RenewPlanIn(In):
    reply_pem: str | None = Field(
        default=None, description="The CA's reply (PEM, or a PKCS #7 chain as PEM)."
    )
    reply_base64: str | None = Field(
        default=None, description="The CA's reply as binary (DER, .p7b), base64-encoded."
    )
    remove_old: bool = False


# -- probes, events, audit ---------------------------------------------------------------------
class ProbeIn(In):
    targets: list[str] = Field(
        min_length=1,
        max_length=20,
        description="smtp://host[:25], smtps://, imap://, imaps://, pop3://, pop3s://, "
        "https://, or a mail domain",
    )
    timeout: float = Field(default=10.0, gt=0, le=60, description="Seconds per stage.")


class ProbeOut(Out):
    schema_version: int
    status: str = Field(description="OK, WARNING, CRITICAL or UNKNOWN.")
    targets: list[dict[str, Any]]
    domains: list[dict[str, Any]]


class EventOut(Out):
    """One Exchange-style application event of a server's endpoints."""

    model_config = ConfigDict(extra="allow")

    time: str
    id: int = Field(description="The Exchange event number: 12014, 12016, 36885 …")
    source: str
    level: str
    server: str
    message: str


class AuditChangeOut(Out):
    kind: str
    identity: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditEntryOut(Out):
    entry_id: int | None
    at: str
    actor: str
    via: str
    action: str
    changes: list[AuditChangeOut]
    detail: dict[str, Any]


ImportOut.model_rebuild()


class JobRunOut(Out):
    id: int | None
    job: str
    target: str | None
    started: str
    finished: str
    status: str
    summary: dict[str, Any]


class TargetIn(In):
    url: str = Field(description="smtp://host[:25], imaps://, https:// … or a mail domain.")
    every: str = Field(default="1h", description="The interval: 15m, 1h, 1d …")
    sni: str | None = Field(default=None, description="The server name to send and judge by.")
    timeout: float = Field(default=15.0, gt=0, le=120, description="Seconds per stage.")


class TargetOut(Out):
    id: int | None
    url: str
    every_seconds: int
    sni: str | None
    timeout: float


class FindingHistoryOut(Out):
    key: str
    source: str
    rule: str
    severity: str
    message: str
    server: str | None
    thumbprint: str | None
    first_seen: str
    last_seen: str
    resolved: str | None
