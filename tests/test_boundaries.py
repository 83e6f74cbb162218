"""The core speaks the domain; only the interfaces speak the shell.

- No module below ``interfaces`` imports typer or rich, or the web frameworks (FastAPI,
  Starlette, uvicorn, Jinja2) or the metrics client (prometheus-client).
- No service module holds a command-line flag (``--force``) in any string, and no error
  raised below ``interfaces`` names one in its message: the command line adds the flag as
  a hint (``interfaces/cli/hints.py``), the API will add a problem type.
- Every error raised below ``interfaces`` carries a registered code.
- ``docs/errors.md`` is generated from the codes and is current.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from certward.errors import all_codes
from certward.interfaces.cli import hints
from certward.interfaces.cli.errors_cmd import errors_markdown
from tests.conftest import Cli

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "certward"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")
# What only the interfaces may import: the command line's and the web service's frameworks.
INTERFACE_PACKAGES = (
    "typer", "rich", "fastapi", "starlette", "uvicorn", "jinja2", "multipart", "prometheus_client",
)  # fmt: skip
ERROR_CLASSES = {
    "CertwardError",
    "PkiError",
    "StoreError",
    "NotFoundError",
    "ConfirmationRequired",
    "EndpointError",
    "ProbeError",
    "InteropError",
    "InputError",
}


def _core_modules() -> Iterator[Path]:
    for path in sorted(SRC.rglob("*.py")):
        if "interfaces" not in path.relative_to(SRC).parts:
            yield path


def _strings(node: ast.AST) -> Iterator[str]:
    """Every literal piece of text inside ``node`` (f-string parts included)."""
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            yield child.value


def test_no_core_module_imports_typer_or_rich() -> None:
    offenders = []
    for path in _core_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [
                f"{path.relative_to(REPO)}: {n}"
                for n in names
                if n.split(".")[0] in INTERFACE_PACKAGES
            ]
    assert not offenders, offenders


def test_no_service_module_names_a_command_line_flag() -> None:
    offenders = []
    for path in sorted((SRC / "services").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) in docstrings:
                    continue
                for flag in FLAG.findall(node.value):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {flag}")
    assert not offenders, offenders


def _raises(tree: ast.AST, known_codes: set[str]) -> Iterator[tuple[ast.Raise, str | None]]:
    """Each ``raise X(...)`` of a certward error: the node and the code it names (None when
    it names none)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise) or not isinstance(node.exc, ast.Call):
            continue
        func = node.exc.func
        name = (
            func.id
            if isinstance(func, ast.Name)
            else func.attr
            if isinstance(func, ast.Attribute)
            else ""
        )
        if name in known_codes:
            yield node, name
        elif name in ERROR_CLASSES:
            given = {k.arg for k in node.exc.keywords}
            yield node, name if "code" in given else None


def test_every_core_error_has_a_code_and_no_flag_in_its_message() -> None:
    import certward.codes as codes_package

    constants = {
        name
        for module in vars(codes_package).values()
        if hasattr(module, "__dict__")
        and getattr(module, "__name__", "").startswith("certward.codes.")
        for name in vars(module)
        if name.isupper()
    }
    uncoded, flagged = [], []
    for path in _core_modules():
        if path.name == "errors.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node, code in _raises(tree, constants):
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            if code is None:
                uncoded.append(where)
            assert isinstance(node.exc, ast.Call)
            message = node.exc.args[0] if node.exc.args else None
            for text in _strings(message) if message is not None else ():
                flagged += [f"{where}: {flag}" for flag in FLAG.findall(text)]
    assert not uncoded, f"errors raised without a code: {uncoded}"
    assert not flagged, f"error messages naming a flag: {flagged}"


def test_codes_are_unique_well_formed_and_documented(cli: Cli) -> None:
    codes = list(all_codes())
    assert len({c.id for c in codes}) == len(codes)
    for c in codes:
        assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", c.id), c.id
        assert c.summary and c.summary[0].isupper(), c.id
    known = {c.id for c in codes}
    assert set(hints.HINTS) <= known, set(hints.HINTS) - known
    assert set(hints.ANSWER_FLAGS) <= known
    committed = (REPO / "docs" / "errors.md").read_text(encoding="utf-8")
    assert committed == errors_markdown(), "docs/errors.md is stale: certward errors --markdown"
    assert cli("errors", "--markdown").stdout == committed
    assert "smtp.default_overwrite" in cli("errors").stdout


def test_a_confirmation_carries_its_question_and_answers_and_the_cli_its_flags(org: Cli) -> None:
    new = org(
        "cert", "new", "--server", "EXCH01", "--subject", "CN=mail.contoso.com",
        "--domain", "mail.contoso.com", "--services", "IIS",
    )  # fmt: skip
    thumb = next(
        c["thumbprint"]
        for c in org.json("cert", "list", "--server", "EXCH01")
        if c["subject"] == "CN=mail.contoso.com"
    )
    assert new.exit_code == 0
    refused = org("cert", "enable", thumb, "--server", "EXCH01", "--services", "SMTP", ok=False)
    assert refused.exit_code == 1
    line = refused.stderr.strip()
    assert line.startswith(f"error: certificate {thumb} would replace the default SMTP certificate")
    assert line.endswith("pass --force to replace it or --keep-default-smtp to keep it")
