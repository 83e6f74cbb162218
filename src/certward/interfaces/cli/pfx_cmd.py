"""``certward pfx inspect|convert`` and ``cert convert-key-provider``: key providers (seed 004)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from certward.interfaces.cli import inputs, render
from certward.interfaces.cli.common import (
    DbOpt,
    JsonOpt,
    PasswordFileOpt,
    ServerOpt,
    ThumbArg,
    as_thumbprint,
    audit_in_existing_store,
    console,
    new_typer,
    open_app,
    parse,
)

if TYPE_CHECKING:
    from certward.services.pfx_files import PfxInspection

pfx_app = new_typer(
    "PFX files: key provider (CNG or CAPI), chain and encryption, as Windows sees them."
)

FileArg = Annotated[Path, typer.Argument(metavar="FILE", help="The .pfx / .p12 file.")]
ToOpt = Annotated[str, typer.Option("--to", metavar="capi|cng", help="The kind of provider.")]
ProviderOpt = Annotated[
    str | None,
    typer.Option(
        "--provider",
        help="Provider name (default: Microsoft RSA SChannel Cryptographic Provider for "
        "capi, Microsoft Software Key Storage Provider for cng).",
    ),
]


def _provider(to: str, provider: str | None) -> str:
    """The provider name for ``--to`` and ``--provider`` (one-line errors)."""
    from certward.services.pfx_files import parse_kind, target_provider

    kind = parse(parse_kind, to)
    if provider is None:
        return target_provider(kind, None)
    return parse(lambda name: target_provider(kind, name), provider)


@pfx_app.command("inspect")
def inspect(
    file: FileArg,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What a PFX holds: key provider (CNG or CAPI), chain, encryption and MAC, with warnings.

    Warnings: a CNG key (EdgeSync event 1035), AES (Windows Server 2016 and older cannot
    import it), a missing chain. Without --password-file: what the unencrypted safes show.
    """
    from certward.services.pfx_files import inspect_pfx

    data = inputs.read_file(file)
    password = inputs.read_password(password_file, required=False)
    report = inspect_pfx(data, password, source=str(file))
    if as_json:
        render.print_json(report.to_json())
        return
    _print_inspection(report)


def _print_inspection(report: PfxInspection) -> None:
    out = console()
    if report.effective_provider is not None:  # set only when the provider was readable
        kind = report.provider_kind.value if report.provider_kind else "unknown"
        provider = f"{report.effective_provider} ({kind})"
    elif report.has_private_key is False:
        provider = "-"
    else:
        provider = "(unknown)"
    if report.key_type:
        key = f"{report.key_type} {report.key_size}"
    elif report.has_private_key is None:
        key = "(unknown without the password)"
    else:
        key = "present" if report.has_private_key else "none"
    rows = [
        ("File", report.source),
        ("Key", key),
        ("KeyProvider", provider),
        ("", report.provider_note),
        ("MachineKeySet", _optional(report.machine_key_set)),
        ("KeyFriendlyName", report.key_friendly_name or ""),
        ("LocalKeyId", report.local_key_id or ""),
        ("KeyEncryption", report.key_encryption or ""),
        ("CertEncryption", "; ".join(report.certificate_encryption) or "none"),
        (
            "Mac",
            f"{report.mac} ({'verified' if report.mac_verified else 'not verified: no password'})"
            if report.mac
            else "none",
        ),
    ]
    for name, value in rows:
        out.print(f"{name:16}: {value}" if name else f"{'':16}  {value}", markup=False)
    out.print()
    if not report.certificates_readable:
        out.print(
            "Certificates: in an encrypted safe; pass --password-file to list them.",
            markup=False,
        )
    else:
        table = render.simple_table(
            ["#", "Thumbprint", "Role", "NotAfter", "Subject", "FriendlyName"],
            [
                [
                    str(n),
                    c.thumbprint,
                    c.role + (" (key)" if c.has_key else ""),
                    c.not_after.strftime("%Y-%m-%d"),
                    c.subject,
                    c.friendly_name or "",
                ]
                for n, c in enumerate(report.certificates, 1)
            ],
        )
        out.print(table)
        if report.chain:
            state = "complete" if report.chain_complete else "incomplete"
            out.print(f"Chain ({state}): {' -> '.join(report.chain)}", markup=False)
    for warning in report.warnings:
        out.print(f"warning: {warning}", markup=False, soft_wrap=True)


def _optional(value: bool | None) -> str:
    return "(unknown)" if value is None else str(value)


@pfx_app.command("convert")
def convert(
    file: FileArg,
    out: Annotated[Path, typer.Option("--out", help="The .pfx file to write.")],
    to: ToOpt,
    provider: ProviderOpt = None,
    legacy_encryption: Annotated[
        bool,
        typer.Option("--legacy-encryption", help="3DES/SHA-1 for Windows Server 2016 and older."),
    ] = False,
    password_file: PasswordFileOpt = None,
    force_out: inputs.OverwriteOpt = False,
) -> None:
    """Seed 004's fix in one step: the key moved to a CAPI (or CNG) provider in a new PFX.

    Same key, certificate and chain (in chain order), same thumbprint, same password.
    """
    from certward.services.pfx_files import convert_pfx

    name = _provider(to, provider)
    inputs.check_output(out, force=force_out)
    data = inputs.read_file(file)
    password = inputs.read_password(password_file, required=True)
    assert password is not None
    result = convert_pfx(data, password, source=str(file), provider=name, legacy=legacy_encryption)
    detail: dict[str, object] = {"thumbprint": result.thumbprint, "format": "pfx"}
    detail |= {"source": str(file), "file": str(out), "provider": result.provider}
    audit_in_existing_store("key.export", detail)  # a private key written out: audited
    inputs.write_file(out, result.data, private=True, force=force_out)
    profile = "3DES/SHA-1" if result.legacy else "AES-256/SHA-256"
    console().print(
        f"{result.thumbprint}: {result.old_provider or '(no provider)'} -> {result.provider}",
        markup=False,
    )
    console().print(f"Written to {out} ({profile})", markup=False)


def convert_key_provider(
    thumbprint: ThumbArg,
    server: ServerOpt,
    to: ToOpt,
    provider: ProviderOpt = None,
    db: DbOpt = None,
) -> None:
    """Move a certificate's private key to a CAPI (or CNG) provider in the store.

    Seed 004: EdgeSync needs a CAPI key on the default transport certificate. Same
    certificate, same thumbprint.
    """
    name = _provider(to, provider)
    thumb = as_thumbprint(thumbprint)
    old, view = open_app(db).certificates.convert_key_provider(server, thumb, name)
    console().print(f"{view.thumbprint}: {old or '(no provider)'} -> {name}", markup=False)
