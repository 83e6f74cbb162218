"""One deploy on this machine: write, reload, verify by probe, roll back on failure.

:func:`apply` needs no database: the material comes from the store (``certward deploy
run``) or from the REST API (the host agent), and the outcome is a value the caller
records. The sequence:

1. Check the material: the chain and key readable, the key the certificate's
   (``deploy.material_invalid``; nothing written).
2. Lock the target directories (:func:`certward.deploy.files.locked`: ``deploy.busy``
   while another run holds one, ``deploy.no_directory`` when one does not exist), then
   stage every file next to its target (owner, group and mode first, bytes, fsync), then
   keep each current file as ``NAME.previous`` and rename the staged ones into place;
   fsync the directories (``deploy.write_failed``; the previous files stay in place).
3. Run the reload command (``deploy.reload_failed`` when it fails or hangs).
4. Probe the live port until it serves the new certificate, for at most the
   deployment's ``wait``: success only then.
5. Otherwise restore the previous files, reload again and probe until the previous
   certificate is served: the failure is reported as ``deploy.not_served`` (or
   ``deploy.reload_failed``) with ``rolled_back``, or as ``deploy.rollback_failed`` when
   the previous certificate does not come back.

The private key is only ever in the staged key file; no log line or outcome holds it.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from cryptography import x509

from certward.clock import Clock, SystemClock
from certward.codes.deploy import (
    DEPLOY_BUSY,
    DEPLOY_INVALID,
    DEPLOY_NOT_SERVED,
    DEPLOY_RELOAD_FAILED,
    DEPLOY_ROLLBACK_FAILED,
    DEPLOY_WRITE_FAILED,
)
from certward.deploy import files
from certward.deploy.material import DeployMaterial
from certward.errors import CertwardError, ErrorCode
from certward.model.deploy import Deployment, DeployOutcome, certificate_blocks, file_contents
from certward.pki import certinfo

__all__ = ["RELOAD_TIMEOUT", "Reloader", "Verifier", "apply", "run_command"]

log = logging.getLogger(__name__)

RELOAD_TIMEOUT = 60.0
"""Seconds a reload command may run."""


class Verifier(Protocol):
    """Probes ``url`` until it serves ``expect`` (``None``: once) or ``wait`` seconds
    passed; returns the thumbprint last served (None: no certificate seen).
    :func:`certward.deploy.verify.probe_served` is certward's prober."""

    def __call__(
        self, url: str, *, sni: str | None, expect: str | None, wait: float
    ) -> str | None: ...


Reloader = Callable[[Sequence[str]], tuple[int, str]]
"""Runs a reload argv; its exit status and what it said (the last lines of output)."""


def run_command(argv: Sequence[str]) -> tuple[int, str]:
    """The default :data:`Reloader`: the command with a time limit, no shell."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, timeout=RELOAD_TIMEOUT, check=False, text=True
        )
    except FileNotFoundError:
        return 127, f"{argv[0]}: command not found"
    except subprocess.TimeoutExpired:
        return 124, f"{argv[0]}: no answer within {RELOAD_TIMEOUT:.0f} seconds"
    except OSError as exc:
        return 126, f"{argv[0]}: {exc.strerror or exc}"
    said = (done.stderr or done.stdout or "").strip().splitlines()
    return done.returncode, " / ".join(said[-3:])


def _default_verifier(url: str, *, sni: str | None, expect: str | None, wait: float) -> str | None:
    from certward.deploy.verify import probe_served

    return probe_served(url, sni=sni, expect=expect, wait=wait)


def _thumb_of_file(path: Path) -> str | None:
    """The thumbprint of the first certificate in ``path`` (None: absent or unreadable)."""
    try:
        blocks = certificate_blocks(path.read_bytes())
        return certinfo.thumbprint(certinfo.to_der(x509.load_pem_x509_certificate(blocks[0])))
    except (OSError, IndexError, ValueError):
        return None


class _Run:
    """The state of one :func:`apply`: its steps, for the outcome and the log."""

    def __init__(self, deployment: Deployment, clock: Clock, reloader: Reloader) -> None:
        self.d = deployment
        self.clock = clock
        self.reloader = reloader
        self.steps: list[str] = []

    def step(self, text: str) -> None:
        self.steps.append(text)
        log.info("deploy %s: %s", self.d.name, text)

    def outcome(
        self,
        ok: bool,
        *,
        deployed: str | None,
        served: str | None,
        previous: str | None,
        rolled_back: bool = False,
        code: ErrorCode | None = None,
        detail: str = "",
    ) -> DeployOutcome:
        if not ok:
            log.warning("deploy %s failed: %s", self.d.name, detail)
        return DeployOutcome(
            ok=ok,
            when=self.clock.now(),
            deployed=deployed,
            served=served,
            previous=previous,
            rolled_back=rolled_back,
            code=None if code is None else code.id,
            detail=detail,
            steps=tuple(self.steps),
        )


def apply(
    deployment: Deployment,
    material: DeployMaterial,
    *,
    verify: Verifier | None = None,
    reload: Reloader | None = None,
    clock: Clock | None = None,
    check_material: bool = True,
) -> DeployOutcome:
    """Deploy ``material`` as ``deployment`` says, on this machine; the outcome (never an
    exception for a deploy that failed: the failure is in the outcome, with its code).
    Another run holding the target directories is ``deploy.busy``, raised: nothing was
    done, and that other run's outcome is the one to record. A caller may hold the target
    directories already (:func:`files.locked` is re-entrant on a thread).

    ``verify`` probes the live port (default: certward's prober in a child process);
    ``reload`` runs the reload command (default: :func:`run_command`).
    ``check_material=False`` skips step 1 — the daemon and the probe are then the only
    judges (the tests use it to send a mismatched key through to the rollback)."""
    verify = verify or _default_verifier
    run = _Run(deployment, clock or SystemClock(), reload or run_command)
    d = deployment
    try:
        new = material.check() if check_material else material.thumbprint
    except CertwardError as exc:
        return run.outcome(
            False, deployed=None, served=None, previous=None, code=exc.code, detail=exc.message
        )
    try:
        specs = _specs(d, material)
        with files.locked(s.path for s in specs):
            return _write_and_verify(run, verify, specs, new)
    except CertwardError as exc:
        if exc.code is DEPLOY_BUSY:  # not this run's outcome: the other run records its own
            raise
        return run.outcome(
            False, deployed=new, served=None, previous=None, code=exc.code, detail=exc.message
        )


def _write_and_verify(
    run: _Run, verify: Verifier, specs: list[files.FileSpec], new: str
) -> DeployOutcome:
    """Steps 2 to 5, the target directories locked."""
    d = run.d
    previous = _thumb_of_file(Path(d.paths.certificate))
    run.step(f"certificate {new} to {', '.join(d.paths.all)} (previous: {previous or 'none'})")
    try:
        staged = files.stage(specs)
        staged.commit()
    except OSError as exc:
        where = exc.filename or d.paths.certificate
        detail = f"{where}: cannot write ({exc.strerror or exc}); the previous files are in place"
        return run.outcome(
            False,
            deployed=new,
            served=None,
            previous=previous,
            code=DEPLOY_WRITE_FAILED,
            detail=detail,
        )
    run.step("files in place, previous ones kept as .previous")

    failure: tuple[ErrorCode, str] | None = None
    reload_problem = _reload(run, "reload")
    if reload_problem is not None:
        failure = (DEPLOY_RELOAD_FAILED, reload_problem)
    served = None
    if failure is None:  # a failed reload changed nothing the daemon serves: no waiting
        served = _probe(run, verify, expect=new)
        run.step(f"{d.verify} serves {served or 'no certificate'}")
    if served == new and failure is None:
        return run.outcome(
            True, deployed=new, served=served, previous=previous, detail=f"{d.verify} serves {new}"
        )
    if failure is None:
        failure = (
            DEPLOY_NOT_SERVED,
            f"{d.verify} serves {served or 'no certificate'}, not the new certificate {new}",
        )

    # Roll back: the previous files, a reload, and proof that the previous certificate is back.
    code, detail = failure
    problems = files.restore([s.path for s in specs], staged.existed)
    run.step("previous files restored" if not problems else "restore: " + "; ".join(problems))
    again = _reload(run, "reload after restoring")
    back = _probe(run, verify, expect=previous)
    run.step(f"{d.verify} serves {back or 'no certificate'} after the rollback")
    if problems or again is not None or (previous is not None and back != previous):
        said = "; ".join([*problems, *([again] if again else [])]) or (
            f"{d.verify} serves {back or 'no certificate'}, not the previous {previous}"
        )
        return run.outcome(
            False,
            deployed=new,
            served=back,
            previous=previous,
            rolled_back=False,
            code=DEPLOY_ROLLBACK_FAILED,
            detail=f"{detail}; rollback: {said}",
        )
    restored = f"previous certificate {previous} served again" if previous else "files removed"
    return run.outcome(
        False,
        deployed=new,
        served=back,
        previous=previous,
        rolled_back=True,
        code=code,
        detail=f"{detail}; rolled back: {restored}",
    )


def _probe(run: _Run, verify: Verifier, *, expect: str | None) -> str | None:
    """What the port serves; a verifier that fails counts as nothing served (the files are
    then rolled back like any other failure)."""
    d = run.d
    try:
        return verify(d.verify, sni=d.sni, expect=expect, wait=d.wait)
    except Exception as exc:  # a verifier's fault must not leave the new files unverified
        run.step(f"probe failed: {type(exc).__name__}: {exc}")
        return None


def _reload(run: _Run, what: str) -> str | None:
    """Run the deployment's reload command; a problem in words (None: it succeeded)."""
    argv = run.d.reload
    if not argv:
        run.step(f"{what}: no reload command")
        return None
    status, said = run.reloader(argv)
    run.step(f"{what}: {' '.join(argv)} exited {status}")
    if status != 0:
        return f"{' '.join(argv)} exited {status}: {said}".rstrip(": ")
    return None


def _specs(d: Deployment, material: DeployMaterial) -> list[files.FileSpec]:
    try:
        uid, gid = files.ids_of(d.owner, d.group)
    except KeyError as exc:
        raise DEPLOY_INVALID(f"deployment {d.name}: no such user or group {exc}") from None
    contents = file_contents(
        d.paths, material.certificate_pem, material.chain_pems, material.key_pem
    )
    return [
        files.FileSpec(Path(path), data, d.key_mode if holds_key else d.cert_mode, uid, gid)
        for path, (data, holds_key) in contents.items()
    ]
