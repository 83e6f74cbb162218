"""The collector: what a collection holds (one contract), and the PowerShell script that makes it.

:data:`KINDS` is the contract. Each :class:`Kind` names one output: its id, the command that
prints it, whether it is run once for the organisation or once per server, the file name it
is saved under in the zip, and the properties selected from its objects. The script writer
(:func:`collector_script`) and the collection reader (:mod:`certward.interop.collection`)
both read it, so a file the script writes is a file the reader expects.

The script runs in the Exchange Management Shell on one server; it runs only Get-* cmdlets
(Exchange's, ``Get-ChildItem`` of the certificate stores, ``Get-Website``, ``Get-ItemProperty``
of the registry) and writes nothing but the zip (through a temporary directory it removes).
Every value it writes into the script is a constant of this module or goes through
:func:`certward.interop.powershell.quote`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from certward.interop.powershell import comment, quote
from certward.model.observed import Evidence

__all__ = [
    "DEFAULT_SCRIPT_NAME",
    "KINDS",
    "SCHEMA_VERSION",
    "Computed",
    "Kind",
    "Scope",
    "collector_script",
    "file_name",
    "kind",
]

SCHEMA_VERSION = 1
DEFAULT_SCRIPT_NAME = "Collect-Certward.ps1"
MANIFEST = "manifest.json"


class Scope(enum.StrEnum):
    ORGANISATION = "organisation"  # run once: the organisation's objects
    SERVER = "server"  # run once for every Exchange server


@dataclass(frozen=True, slots=True)
class Computed:
    """A calculated property: ``@{Name='name'; Expression={expression}}`` (PowerShell code,
    a constant of this module, never a value from a name)."""

    name: str
    expression: str


@dataclass(frozen=True, slots=True)
class Kind:
    """One collected output."""

    id: str  # "exchange-certificate": the file's name and the manifest's kind
    command: str  # what the manifest says printed it, e.g. "Get-ExchangeCertificate"
    scope: Scope
    properties: tuple[str | Computed, ...]
    evidence: frozenset[Evidence]
    # PowerShell that prints the objects; $Name is the server's name (per-server kinds).
    # Remote kinds are run on the server itself with Invoke-Command.
    source: str
    # What certward's CliXML reader recognises the file's objects as: the value of
    # certward.interop.dump.Format (its CLIXML_SHAPES name the properties it reads).
    format: str = ""
    remote: bool = False
    cmdlet: str = ""  # the cmdlet whose absence (an older Exchange) makes the kind missing

    @property
    def selected(self) -> tuple[str, ...]:
        """The names of the properties the file's objects carry."""
        return tuple(p.name if isinstance(p, Computed) else p for p in self.properties)

    @property
    def required_cmdlet(self) -> str:
        return self.cmdlet or self.command.split()[0]


def file_name(kind_id: str, server: str | None) -> str:
    """Where a kind's file is in the zip: ``organisation/<id>.xml`` or
    ``servers/<SERVER>/<id>.xml``."""
    if server is None:
        return f"organisation/{kind_id}.xml"
    return f"servers/{server}/{kind_id}.xml"


_KEY_PROVIDER = Computed(
    "KeyProvider",
    # CAPI keys answer through PrivateKey; CNG keys only through the RSA/ECDsa extensions.
    "if ($_.HasPrivateKey) { try { $_.PrivateKey.CspKeyContainerInfo.ProviderName } catch { "
    "try { [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::"
    "GetRSAPrivateKey($_).Key.Provider.Provider } catch { $null } } }",
)
# The certificate is its RawData (DER); subject, issuer, dates and key come from it.
# Run on the server itself (Invoke-Command), KeyProvider names a CNG key too (seed 004); in
# the Exchange Management Shell Get-ExchangeCertificate's objects come deserialised, without
# their private key, so its KeyProvider is usually empty.
_STORE_PROPERTIES: tuple[str | Computed, ...] = (
    "RawData",
    "Thumbprint",
    "PSParentPath",
    "FriendlyName",
    "HasPrivateKey",
    _KEY_PROVIDER,
)
_VDIR = ("Server", "Name", "InternalUrl", "ExternalUrl")
_STORE_FORMAT = "Get-ChildItem Cert:\\LocalMachine\\<store> | Export-Clixml"


def _store(store: str, evidence: Evidence) -> Kind:
    return Kind(
        id=f"{store.lower()}-store",
        command=f"Get-ChildItem Cert:\\LocalMachine\\{store}",
        scope=Scope.SERVER,
        properties=_STORE_PROPERTIES,
        evidence=frozenset({evidence}),
        source=f"Get-ChildItem Cert:\\LocalMachine\\{store}",
        format=_STORE_FORMAT,
        remote=True,
    )


def _vdir(kind_id: str, cmdlet: str) -> Kind:
    return Kind(
        id=kind_id,
        command=cmdlet,
        scope=Scope.SERVER,
        properties=_VDIR,
        evidence=frozenset({Evidence.VIRTUAL_DIRECTORIES}),
        source=f"{cmdlet} -Server $Name -ADPropertiesOnly",
        format="Get-*VirtualDirectory | Export-Clixml",
    )


_SCHANNEL = (
    "$base = 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols'; "
    "foreach ($p in 'SSL 2.0','SSL 3.0','TLS 1.0','TLS 1.1','TLS 1.2','TLS 1.3') { "
    "foreach ($side in 'Server','Client') { "
    '$v = Get-ItemProperty -Path "$base\\$p\\$side" -ErrorAction SilentlyContinue; '
    "[pscustomobject]@{ Protocol = $p; Side = $side; "
    "Enabled = $v.Enabled; DisabledByDefault = $v.DisabledByDefault } } }"
)
_NET_TLS = (
    "foreach ($node in 'SOFTWARE','SOFTWARE\\Wow6432Node') { "
    "foreach ($version in 'v2.0.50727','v4.0.30319') { "
    '$v = Get-ItemProperty -Path "HKLM:\\$node\\Microsoft\\.NETFramework\\$version" '
    "-ErrorAction SilentlyContinue; "
    "[pscustomobject]@{ Version = $version; Wow6432Node = ($node -ne 'SOFTWARE'); "
    "SystemDefaultTlsVersions = $v.SystemDefaultTlsVersions; "
    "SchUseStrongCrypto = $v.SchUseStrongCrypto } } }"
)
_ROOT_AUTO_UPDATE = (
    "$v = Get-ItemProperty -Path "
    "'HKLM:\\SOFTWARE\\Policies\\Microsoft\\SystemCertificates\\AuthRoot' "
    "-ErrorAction SilentlyContinue; "
    "[pscustomobject]@{ DisableRootAutoUpdate = $v.DisableRootAutoUpdate }"
)
_IIS_BINDINGS = (
    "foreach ($site in Get-Website) { foreach ($b in $site.bindings.Collection) { "
    "if ($b.protocol -eq 'https') { [pscustomobject]@{ Site = $site.name; "
    "Protocol = $b.protocol; BindingInformation = $b.bindingInformation; "
    "CertificateHash = $b.certificateHash; CertificateStoreName = $b.certificateStoreName } } } }"
)

KINDS: tuple[Kind, ...] = (
    Kind(
        id="exchange-server",
        command="Get-ExchangeServer",
        scope=Scope.ORGANISATION,
        properties=(
            "Name",
            "Fqdn",
            "ServerRole",
            "AdminDisplayVersion",
            "IsEdgeServer",
            "IsMailboxServer",
            "IsClientAccessServer",
            "IsHubTransportServer",
            "Site",
        ),
        evidence=frozenset({Evidence.EXCHANGE_SERVER}),
        source="Get-ExchangeServer",
        format="Get-ExchangeServer | Export-Clixml",
    ),
    Kind(
        id="exchange-certificate",
        command="Get-ExchangeCertificate",
        scope=Scope.SERVER,
        properties=(
            "RawData",
            "Thumbprint",
            "Services",
            "Status",
            "HasPrivateKey",
            "PrivateKeyExportable",
            "IsSelfSigned",
            "FriendlyName",
            "CertificateDomains",
            "RootCAType",
            _KEY_PROVIDER,
        ),
        evidence=frozenset({Evidence.EXCHANGE_CERTIFICATE, Evidence.MY_STORE}),
        source="Get-ExchangeCertificate -Server $Name",
        format="Get-ExchangeCertificate | Export-Clixml",
    ),
    _store("My", Evidence.MY_STORE),
    _store("Root", Evidence.ROOT_STORE),
    _store("CA", Evidence.CA_STORE),
    Kind(
        id="transport-service",
        command="Get-TransportService",
        scope=Scope.SERVER,
        properties=("Name", "InternalTransportCertificateThumbprint"),
        evidence=frozenset({Evidence.TRANSPORT_SERVICE}),
        source="Get-TransportService -Identity $Name",
        format="Get-TransportService | Export-Clixml",
    ),
    Kind(
        id="receive-connector",
        command="Get-ReceiveConnector",
        scope=Scope.SERVER,
        properties=(
            "Identity",
            "Name",
            "Server",
            "TransportRole",
            "Enabled",
            "Bindings",
            "RemoteIPRanges",
            "AuthMechanism",
            "PermissionGroups",
            "RequireTLS",
            "DomainSecureEnabled",
            "Fqdn",
            "TlsCertificateName",
            "TlsDomainCapabilities",
        ),
        evidence=frozenset({Evidence.RECEIVE_CONNECTOR}),
        source="Get-ReceiveConnector -Server $Name",
        format="Get-ReceiveConnector | Export-Clixml",
    ),
    Kind(
        id="send-connector",
        command="Get-SendConnector",
        scope=Scope.ORGANISATION,
        properties=(
            "Identity",
            "Name",
            "Enabled",
            "AddressSpaces",
            "SmartHosts",
            "SourceTransportServers",
            "DNSRoutingEnabled",
            "SmartHostAuthMechanism",
            "RequireTLS",
            "TlsAuthLevel",
            "TlsDomain",
            "IgnoreSTARTTLS",
            "DomainSecureEnabled",
            "CloudServicesMailEnabled",
            "Fqdn",
            "Port",
            "TlsCertificateName",
        ),
        evidence=frozenset({Evidence.SEND_CONNECTOR}),
        source="Get-SendConnector",
        format="Get-SendConnector | Export-Clixml",
    ),
    Kind(
        id="auth-config",
        command="Get-AuthConfig",
        scope=Scope.ORGANISATION,
        properties=(
            "CurrentCertificateThumbprint",
            "PreviousCertificateThumbprint",
            "NextCertificateThumbprint",
            "NextCertificateEffectiveDate",
            "ServiceName",
            "Realm",
        ),
        evidence=frozenset({Evidence.AUTH_CONFIG}),
        source="Get-AuthConfig",
        format="Get-AuthConfig | Export-Clixml",
    ),
    _vdir("owa-virtual-directory", "Get-OwaVirtualDirectory"),
    _vdir("ecp-virtual-directory", "Get-EcpVirtualDirectory"),
    _vdir("web-services-virtual-directory", "Get-WebServicesVirtualDirectory"),
    _vdir("activesync-virtual-directory", "Get-ActiveSyncVirtualDirectory"),
    _vdir("oab-virtual-directory", "Get-OabVirtualDirectory"),
    _vdir("mapi-virtual-directory", "Get-MapiVirtualDirectory"),
    Kind(
        id="client-access-service",
        command="Get-ClientAccessService",
        scope=Scope.SERVER,
        properties=("Name", "AutoDiscoverServiceInternalUri"),
        evidence=frozenset({Evidence.VIRTUAL_DIRECTORIES}),
        source="Get-ClientAccessService -Identity $Name",
        format="Get-ClientAccessService | Export-Clixml",
    ),
    Kind(
        id="edge-subscription",
        command="Get-EdgeSubscription",
        scope=Scope.ORGANISATION,
        properties=("Name", "Site", "Domain"),
        evidence=frozenset({Evidence.EDGE_SUBSCRIPTION}),
        source="Get-EdgeSubscription",
        format="Get-EdgeSubscription | Export-Clixml",
    ),
    Kind(
        id="hybrid-configuration",
        command="Get-HybridConfiguration",
        scope=Scope.ORGANISATION,
        properties=("TlsCertificateName", "Domains", "Features", "OnPremisesSmartHost"),
        evidence=frozenset({Evidence.HYBRID_CONFIGURATION}),
        source="Get-HybridConfiguration",
        format="Get-HybridConfiguration | Export-Clixml",
    ),
    Kind(
        id="iis-bindings",
        command="Get-Website",
        scope=Scope.SERVER,
        properties=(
            "Site",
            "Protocol",
            "BindingInformation",
            "CertificateHash",
            "CertificateStoreName",
        ),
        evidence=frozenset({Evidence.IIS_BINDINGS}),
        source=_IIS_BINDINGS,
        format="Get-WebBinding | Export-Clixml",
        remote=True,
    ),
    Kind(
        id="schannel",
        command="Get-ItemProperty HKLM:\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders"
        "\\SCHANNEL\\Protocols",
        scope=Scope.SERVER,
        properties=("Protocol", "Side", "Enabled", "DisabledByDefault"),
        evidence=frozenset({Evidence.SCHANNEL}),
        source=_SCHANNEL,
        format="SCHANNEL protocol settings | Export-Clixml",
        remote=True,
    ),
    Kind(
        id="net-tls",
        command="Get-ItemProperty HKLM:\\SOFTWARE\\Microsoft\\.NETFramework",
        scope=Scope.SERVER,
        properties=("Version", "Wow6432Node", "SystemDefaultTlsVersions", "SchUseStrongCrypto"),
        evidence=frozenset({Evidence.NET_TLS}),
        source=_NET_TLS,
        format=".NET Framework TLS settings | Export-Clixml",
        remote=True,
    ),
    Kind(
        id="root-auto-update",
        command="Get-ItemProperty HKLM:\\SOFTWARE\\Policies\\Microsoft\\SystemCertificates"
        "\\AuthRoot",
        scope=Scope.SERVER,
        properties=("DisableRootAutoUpdate",),
        evidence=frozenset({Evidence.ROOT_AUTO_UPDATE}),
        source=_ROOT_AUTO_UPDATE,
        format="DisableRootAutoUpdate | Export-Clixml",
        remote=True,
    ),
)

_BY_ID = {k.id: k for k in KINDS}


def kind(kind_id: str) -> Kind | None:
    """The contract's kind ``kind_id``; None for an id the contract does not have."""
    return _BY_ID.get(kind_id)


# -- the script -------------------------------------------------------------------------------
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def _select(k: Kind) -> str:
    parts: list[str] = []
    for p in k.properties:
        if isinstance(p, Computed):
            parts.append(f"@{{Name={quote(p.name)}; Expression={{ {p.expression} }}}}")
        else:
            if not _IDENTIFIER.fullmatch(p):  # the contract's own constants
                raise ValueError(f"not a property name: {p!r}")
            parts.append(p)
    return "Select-Object -Property " + ", ".join(parts)


def _call(k: Kind) -> str:
    """A ``Save-Kind`` line for one kind (``$Name`` is the server's name, per server)."""
    select = _select(k)
    if k.remote:
        block = (
            f"Invoke-Command -ComputerName $Name -ScriptBlock {{ & {{ {k.source} }} | {select} }}"
        )
        block += " | Select-Object -Property * -ExcludeProperty PSComputerName, RunspaceId, "
        block += "PSShowComputerName"
    else:
        block = f"{k.source} | {select}"
    server = "$Name" if k.scope is Scope.SERVER else "$null"
    return (
        f"Save-Kind -Kind {quote(k.id)} -Command {quote(k.command)} "
        f"-Cmdlet {quote(k.required_cmdlet)} -Server {server} -Block {{ {block} }}"
    )


_HEADER = """\
{comments}
[CmdletBinding()]
param(
    # The Exchange servers to collect from; all of the organisation's when not given.
    [string[]] $Server,
    # The zip to write.
    [string] $OutFile = (Join-Path (Get-Location)
        ('certward-collection-' + (Get-Date -Format 'yyyyMMdd-HHmmss') + '.zip'))
)
$ErrorActionPreference = 'Stop'
$SchemaVersion = {schema}
$Work = Join-Path ([System.IO.Path]::GetTempPath()) ('certward-' + [guid]::NewGuid().ToString('N'))
$null = New-Item -ItemType Directory -Path $Work
$Files = New-Object System.Collections.ArrayList

function Save-Kind {{
    param([string] $Kind, [string] $Command, [string] $Cmdlet, [string] $Server,
          [scriptblock] $Block)
    if ($Server) {{ $File = 'servers/' + $Server + '/' + $Kind + '.xml' }}
    else {{ $File = 'organisation/' + $Kind + '.xml' }}
    $Entry = [ordered]@{{ file = $File; kind = $Kind; command = $Command; server = $null;
                          missing = $false; error = $null }}
    if ($Server) {{ $Entry.server = $Server }}
    if (-not (Get-Command $Cmdlet -ErrorAction SilentlyContinue)) {{
        $Entry.missing = $true
        $Entry.error = $Cmdlet + ' does not exist on this server'
    }} else {{
        try {{
            $Objects = @(& $Block)
            $Path = Join-Path $Work ($File -replace '/', '\\')
            $null = New-Item -ItemType Directory -Force -Path (Split-Path -Parent $Path)
            $Objects | Export-Clixml -Path $Path -Depth 4 -Encoding Unicode
        }} catch {{
            $Entry.error = ($_.Exception.Message -replace '\\s+', ' ')
            Write-Warning ($File + ': ' + $Entry.error)
        }}
    }}
    $null = $Files.Add([pscustomobject]$Entry)
}}

$All = @(Get-ExchangeServer)
if ($Server) {{ $Names = $Server }} else {{ $Names = @($All | ForEach-Object {{ $_.Name }}) }}
"""

_FOOTER = """\
$Local = Get-ExchangeServer -Identity $env:COMPUTERNAME -ErrorAction SilentlyContinue
$Manifest = [ordered]@{
    schema_version = $SchemaVersion
    collected_at = (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ')
    exchange_build = $(if ($Local) { [string]$Local.AdminDisplayVersion } else { $null })
    culture = (Get-Culture).Name
    collected_on = $env:COMPUTERNAME
    servers = @($Names)
    files = @($Files)
}
$Manifest | ConvertTo-Json -Depth 4 |
    Out-File -FilePath (Join-Path $Work 'manifest.json') -Encoding utf8
Compress-Archive -Path (Join-Path $Work '*') -DestinationPath $OutFile -Force
Remove-Item -Recurse -Force -LiteralPath $Work
Write-Host ('certward collection written to ' + $OutFile +
    '; next: certward observe ' + (Split-Path -Leaf $OutFile))
"""

_COMMENTS = (
    "Collect-Certward.ps1: written by certward collector.",
    "",
    "THIS SCRIPT CHANGES NOTHING ON THE SERVERS. It runs only Get-* cmdlets (Exchange's,",
    "Get-ChildItem of the certificate stores, Get-Website, Get-ItemProperty of the registry),",
    "on each server through Invoke-Command where the data is local to it, and writes one zip",
    "(through a temporary directory it removes). No private key leaves a server: certificates",
    "are saved with their public RawData only.",
    "",
    "Run it in the Exchange Management Shell on one Exchange server:",
    "    .\\Collect-Certward.ps1 [-Server EXCH01, EXCH02] [-OutFile collection.zip]",
    "then give the zip to: certward observe collection.zip",
    "A cmdlet an older Exchange does not have is recorded as missing in the zip's manifest.",
)


def collector_script() -> str:
    """The collector script (PowerShell, for the Exchange Management Shell)."""
    comments = "\n".join(comment(c).rstrip() for c in _COMMENTS)
    lines = [_HEADER.format(comments=comments, schema=SCHEMA_VERSION)]
    lines.append(comment("The organisation, once."))
    lines += [_call(k) for k in KINDS if k.scope is Scope.ORGANISATION]
    lines.append("")
    lines.append(comment("Every server."))
    lines.append("foreach ($Name in $Names) {")
    lines += ["    " + _call(k) for k in KINDS if k.scope is Scope.SERVER]
    lines.append("}")
    lines.append("")
    lines.append(_FOOTER)
    return "\n".join(lines)
