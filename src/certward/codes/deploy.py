"""Error codes: deploy (certificates written to Linux daemons, reloaded and verified by probe).

A deploy that ran and failed is also reported as a value (:class:`DeployOutcome` with one of
these codes in ``code``), so that an agent can send it back; the service raises the same
codes where the caller must be told at once.
"""

from certward.errors import EndpointError, InputError, NotFoundError, StoreError, code

DEPLOY_EXISTS = code("deploy.exists", StoreError, "A deployment of that name exists.")
DEPLOY_NOT_FOUND = code("deploy.not_found", NotFoundError, "No deployment has that name.")
DEPLOY_INVALID = code(
    "deploy.invalid",
    InputError,
    "A deployment's settings cannot be used: its name, kind, files, owner, group, mode, "
    "reload command or probe URL.",
)
DEPLOY_NO_CERTIFICATE = code(
    "deploy.no_certificate",
    NotFoundError,
    "The server has no issued certificate with a private key enabled for the deployment's "
    "services.",
)
DEPLOY_KEY_NOT_EXPORTABLE = code(
    "deploy.key_not_exportable",
    StoreError,
    "The certificate's private key is not exportable; writing it to a file would export it.",
)
DEPLOY_MATERIAL_INVALID = code(
    "deploy.material_invalid",
    InputError,
    "The certificate, chain or key to deploy cannot be read, or the key is not the "
    "certificate's; nothing was written.",
)
DEPLOY_WRITE_FAILED = code(
    "deploy.write_failed",
    EndpointError,
    "The files could not be written (directory, permission, owner or disk); the previous "
    "files are in place.",
)
DEPLOY_RELOAD_FAILED = code(
    "deploy.reload_failed",
    EndpointError,
    "The daemon's reload command failed or did not finish; the previous files were restored.",
)
DEPLOY_NOT_SERVED = code(
    "deploy.not_served",
    EndpointError,
    "After the reload the live port did not serve the new certificate; the previous files "
    "were restored and the daemon reloaded again.",
)
DEPLOY_ROLLBACK_FAILED = code(
    "deploy.rollback_failed",
    EndpointError,
    "The deploy failed and restoring the previous files did not bring the previous "
    "certificate back on the live port: look at the daemon now.",
)
DEPLOY_WRONG_HOST = code(
    "deploy.wrong_host",
    StoreError,
    "The deployment belongs to another host: its host agent deploys it, not this machine.",
)
DEPLOY_BUSY = code(
    "deploy.busy",
    StoreError,
    "Another deploy into the same directory is under way on this host (a person's run, "
    "another run, an agent); nothing was written: try again when it is over.",
)
DEPLOY_NO_DIRECTORY = code(
    "deploy.no_directory",
    EndpointError,
    "A deployment's target directory does not exist; certward does not create it (its owner "
    "and mode are the daemon's): create it, then deploy again.",
)
