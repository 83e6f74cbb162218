"""Error codes: certificates."""

from certward.errors import (  # noqa: F401  (each code names its kind)
    ConfirmationRequired,
    EndpointError,
    InputError,
    InteropError,
    NotFoundError,
    PkiError,
    ProbeError,
    StoreError,
    code,
)

SMTP_DEFAULT_OVERWRITE = code(
    "smtp.default_overwrite",
    ConfirmationRequired,
    "Enabling SMTP would replace the server's default SMTP certificate: Exchange's question "
    "'Overwrite the existing default SMTP certificate?', answered with replace or keep.",
)

# -- a server's certificates (the My store) ---------------------------------------------------
CERTIFICATE_NOT_FOUND = code(
    "certificate.not_found",
    NotFoundError,
    "No certificate with that thumbprint in the named store of the server.",
)
CERTIFICATE_EXISTS = code(
    "certificate.exists",
    StoreError,
    "A certificate with that thumbprint is already in the store of the server.",
)
CERTIFICATE_PENDING = code(
    "certificate.pending",
    StoreError,
    "The thumbprint names a pending request: it has no certificate until the CA's reply is "
    "imported.",
)
CERTIFICATE_NO_PRIVATE_KEY = code(
    "certificate.no_private_key",
    StoreError,
    "The certificate has no private key on the server, so it cannot be enabled, exported or "
    "moved to another key provider.",
)
CERTIFICATE_EXPIRED = code(
    "certificate.expired", StoreError, "The certificate has expired and cannot be enabled."
)
CERTIFICATE_NOT_EXPORTABLE = code(
    "certificate.not_exportable",
    StoreError,
    "The certificate's private key is not exportable (it was created or imported so).",
)
CERTIFICATE_KEY_UNSUPPORTED = code(
    "certificate.key_unsupported",
    StoreError,
    "The certificate's private key is not an RSA key, the only kind Exchange's certificates use.",
)
CERTIFICATE_PFX_PASSWORD_EMPTY = code(
    "certificate.pfx_password_empty",
    InputError,
    "Export-ExchangeCertificate needs a non-empty password for the PFX file.",
)
CERTIFICATE_DAYS_INVALID = code(
    "certificate.days_invalid",
    InputError,
    "A self-signed certificate must be valid for at least one day.",
)
CERTIFICATE_SERVICES_NOT_ON_EDGE = code(
    "certificate.services_not_on_edge",
    StoreError,
    "An Edge Transport server can use a certificate only for SMTP (and Federation).",
)
CERTIFICATE_REQUEST_OUTPUT_MISSING = code(
    "certificate.request_output_missing",
    InputError,
    "Renewing a CA-issued certificate makes a new request, which needs somewhere to go.",
)
CERTIFICATE_IS_DEFAULT_SMTP = code(
    "certificate.is_default_smtp",
    StoreError,
    "The certificate is the server's internal transport (default SMTP) certificate: removing "
    "it would stop transport; make another certificate the default first.",
)
CERTIFICATE_NAMED_BY_CONNECTOR = code(
    "certificate.named_by_connector",
    StoreError,
    "A Send connector names the certificate in TlsCertificateName and no other certificate on "
    "the server carries that name.",
)
CERTIFICATE_IN_USE = code(
    "certificate.in_use",
    StoreError,
    "The certificate is enabled for services or is the organisation's auth certificate; it is "
    "removed only when the removal is forced.",
)
# -- Import-ExchangeCertificate ---------------------------------------------------------------
IMPORT_KEY_WITHOUT_CERTIFICATE = code(
    "import.key_without_certificate",
    PkiError,
    "The file's private key belongs to none of the certificates in it.",
)
IMPORT_KEY_NOT_RSA = code(
    "import.key_not_rsa", PkiError, "Exchange certificates use RSA keys; the file's key is not one."
)
IMPORT_ONLY_CA_CERTIFICATES = code(
    "import.only_ca_certificates",
    PkiError,
    "The file holds only CA certificates: they belong in the Root or CA store, not the My store.",
)
IMPORT_SEVERAL_CERTIFICATES = code(
    "import.several_certificates",
    PkiError,
    "The file holds more than one end-entity certificate; Exchange imports one at a time.",
)
IMPORT_REPLY_FOR_OTHER_SERVER = code(
    "import.reply_for_other_server",
    StoreError,
    "The CA reply answers a request made on another server: it completes the request only "
    "there; the other servers get a PFX exported from it.",
)
IMPORT_REPLY_WITHOUT_REQUEST = code(
    "import.reply_without_request",
    StoreError,
    "No pending request on the server matches the certificate, and a certificate without its "
    "private key cannot be used.",
)
# -- trust stores -----------------------------------------------------------------------------
TRUST_STORE_IS_MY = code(
    "trust_store.is_my",
    StoreError,
    "The My (Personal) store holds the server's own certificates with their keys, not trust "
    "anchors.",
)
CERTIFICATE_FRIENDLY_NAME_INVALID = code(
    "certificate.friendly_name_invalid",
    InputError,
    "A certificate's friendly name is blank, holds a control character or is too long.",
)
