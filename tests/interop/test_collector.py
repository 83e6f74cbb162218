"""The collector's contract (KINDS) and the script written from it.

The script cannot run here (no Exchange Management Shell); what is tested is that it is the
contract's: every kind's command and selected properties are in it, it calls nothing but
reading cmdlets, and ``certward collector`` writes it.
"""

from __future__ import annotations

import re
from pathlib import Path

from certward.interop import collector
from certward.interop.collector import KINDS, Computed, Scope, collector_script, file_name
from certward.model.observed import Evidence
from tests.conftest import Cli, error_line

# What the script may call besides Get-*: building the zip in a temporary directory.
_HELPERS = {
    "Select-Object",
    "Export-Clixml",
    "Compress-Archive",
    "ConvertTo-Json",
    "Out-File",
    "Invoke-Command",
    "ForEach-Object",
    "Join-Path",
    "Split-Path",
    "New-Item",  # the temporary directory only
    "Remove-Item",  # the temporary directory only
    "New-Object",
    "Write-Warning",
    "Write-Host",
    "Save-Kind",  # the script's own function
}
_CMDLET = re.compile(r"(?<![\w$.\\-])([A-Z][a-z]+-[A-Z][A-Za-z]+)\b")


def test_each_kind_has_one_id_one_file_and_evidence() -> None:
    ids = [k.id for k in KINDS]
    assert len(ids) == len(set(ids))
    for k in KINDS:
        assert collector.kind(k.id) is k
        assert k.evidence, k.id
        server = "EXCH01" if k.scope is Scope.SERVER else None
        assert file_name(k.id, server).endswith(f"/{k.id}.xml")
    covered = set().union(*(k.evidence for k in KINDS))
    assert covered == set(Evidence)  # every kind of evidence has an output that shows it


def test_the_issue_s_outputs_are_all_collected() -> None:
    commands = {k.command.split()[0] for k in KINDS}
    wanted = {
        "Get-ExchangeServer", "Get-ExchangeCertificate", "Get-TransportService",
        "Get-ReceiveConnector", "Get-SendConnector", "Get-AuthConfig",
        "Get-OwaVirtualDirectory", "Get-EcpVirtualDirectory", "Get-WebServicesVirtualDirectory",
        "Get-ActiveSyncVirtualDirectory", "Get-OabVirtualDirectory", "Get-MapiVirtualDirectory",
        "Get-ClientAccessService", "Get-EdgeSubscription", "Get-HybridConfiguration",
        "Get-ChildItem", "Get-Website", "Get-ItemProperty",
    }  # fmt: skip
    assert wanted <= commands
    stores = {k.command for k in KINDS if k.command.startswith("Get-ChildItem")}
    assert stores == {f"Get-ChildItem Cert:\\LocalMachine\\{s}" for s in ("My", "Root", "CA")}
    certificate = collector.kind("exchange-certificate")
    assert certificate is not None
    for prop in ("Thumbprint", "Services", "Status", "IsSelfSigned", "HasPrivateKey",
                 "PrivateKeyExportable", "RawData"):  # fmt: skip
        assert prop in certificate.selected
    assert "KeyProvider" in certificate.selected  # seed 004: the CNG key
    my = collector.kind("my-store")
    assert my is not None and {"RawData", "PSParentPath"} <= set(my.selected)


def test_the_script_selects_each_kind_s_properties() -> None:
    script = collector_script()
    for k in KINDS:
        (line,) = [x for x in script.splitlines() if f"-Kind '{k.id}'" in x]
        assert f"-Command '{k.command}'" in line
        select = line[line.index("Select-Object -Property ") :]
        for prop in k.properties:
            if isinstance(prop, Computed):
                assert f"@{{Name='{prop.name}'; Expression={{ {prop.expression} }}}}" in select
            else:
                assert re.search(rf"[ ,]{prop}\b", select), (k.id, prop)
        if k.scope is Scope.SERVER:
            assert "-Server $Name" in line
        if k.remote:
            assert "Invoke-Command -ComputerName $Name" in line


def test_the_script_only_reads() -> None:
    script = collector_script()
    head = script.splitlines()[:8]
    assert any("CHANGES NOTHING ON THE SERVERS" in line for line in head)
    assert all(line.startswith("#") for line in head)
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    called = set(_CMDLET.findall(code))
    assert {c for c in called if not c.startswith("Get-")} <= _HELPERS
    # New-Item and Remove-Item touch only the temporary directory $Work.
    for line in script.splitlines():
        if "Remove-Item" in line:
            assert line.strip() == "Remove-Item -Recurse -Force -LiteralPath $Work"
        if "New-Item" in line:
            assert "-ItemType Directory" in line and ("$Work" in line or "$Path" in line)
    assert script.isascii()


def test_the_script_tolerates_missing_cmdlets_and_records_them() -> None:
    script = collector_script()
    assert "Get-Command $Cmdlet -ErrorAction SilentlyContinue" in script
    assert "$Entry.missing = $true" in script
    assert "[string[]] $Server" in script  # the -Server list
    for field in ("schema_version", "collected_at", "exchange_build", "culture", "files"):
        assert f"{field} = " in script
    assert "(Get-Culture).Name" in script
    assert "Export-Clixml -Path $Path -Depth 4 -Encoding Unicode" in script


def test_certward_collector_writes_the_script(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "Collect-Certward.ps1"
    result = cli("collector", "--out", str(out))
    assert out.read_text(encoding="ascii") == collector_script()
    assert "certward observe" in result.stdout
    assert "exists" in error_line(cli, "collector", "--out", str(out))
    cli("collector", "--out", str(out), "--force")


def test_the_script_selects_exactly_what_the_clixml_reader_reads() -> None:
    """The contract both ways: each selected property is one the CliXML mapping consumes,
    and each property it consumes for a kind the collector writes is selected."""
    from certward.interop.clixml_objects import CLIXML_SHAPES
    from certward.interop.dump import Format

    for k in KINDS:
        assert sorted(k.selected) == sorted(CLIXML_SHAPES[Format(k.format)]), k.id
    collected = {Format(k.format) for k in KINDS}
    # HealthChecker's own shape of the TLS settings is read, but the collector writes rows.
    assert set(CLIXML_SHAPES) - collected == {Format.TLS_SETTINGS_CLIXML}
