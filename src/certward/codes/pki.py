"""Error codes: pki (certificate files, names, values) and pfx (PKCS#12 files).

The facts are short: ``file`` (the source the caller named), and what the rule is about
(``bits``, ``domain``, ``count`` ...).
"""

from certward.errors import PkiError, code
from certward.pki._kinds import InvalidValue, NameSyntaxError

# -- certificate files (certward.pki.formats) -------------------------------------------------
FILE_EMPTY = code("pki.file_empty", PkiError, "The certificate file is empty.")
FILE_UNRECOGNISED = code(
    "pki.file_unrecognised",
    PkiError,
    "The file is none of the formats certward reads: PEM, DER, PKCS#7 (.p7b), PKCS#12 (.pfx).",
)
FILE_IS_REQUEST = code(
    "pki.file_is_request",
    PkiError,
    "The file is a certificate request, not a certificate: it goes to a certificate authority.",
)
CERTIFICATE_MISSING = code(
    "pki.certificate_missing", PkiError, "The file holds no certificate (a key alone, or nothing)."
)
PEM_DAMAGED = code(
    "pki.pem_damaged",
    PkiError,
    "A PEM block is cut off (BEGIN without END) or its content is not what its label says.",
)
PEM_BLOCK_UNSUPPORTED = code(
    "pki.pem_block_unsupported",
    PkiError,
    "The PEM file holds a block certward does not read (neither a certificate, PKCS#7 nor a key).",
)
PRIVATE_KEY_UNEXPECTED = code(
    "pki.private_key_unexpected",
    PkiError,
    "A file that should hold certificates only (a store import) carries a private key.",
)
PRIVATE_KEY_DUPLICATE = code(
    "pki.private_key_duplicate", PkiError, "The file holds more than one private key."
)
PRIVATE_KEY_ENCRYPTED = code(
    "pki.private_key_encrypted",
    PkiError,
    "The file's private key is encrypted and cannot be read without its password.",
)

# -- values (certward.pki.build, names, tlsname) -----------------------------------------------
KEY_SIZE_UNSUPPORTED = code(
    "pki.key_size_unsupported",
    InvalidValue,
    "The RSA key size is not one New-ExchangeCertificate accepts (1024, 2048, 3072, 4096).",
)
DOMAIN_INVALID = code(
    "pki.domain_invalid",
    InvalidValue,
    "A DNS name is malformed: empty, too long, a bad label, or a '*' not left-most.",
)
NAME_SYNTAX_INVALID = code(
    "pki.name_syntax_invalid",
    NameSyntaxError,
    "An X.500 name is not in Exchange's KEY=value syntax, or has an unknown key or bad value.",
)
TLS_CERTIFICATE_NAME_INVALID = code(
    "pki.tls_certificate_name_invalid",
    InvalidValue,
    "A TlsCertificateName is not '<I>issuer<S>subject' with two well-formed X.500 names.",
)
PROVIDER_NAME_INVALID = code(
    "pfx.provider_invalid",
    InvalidValue,
    "A key-provider name Windows cannot store: empty, over 256 characters, or not BMP text.",
)

# -- PKCS#12 files (certward.pki.pfx, formats) ---------------------------------------------------
PFX_NOT_PKCS12 = code("pfx.not_pkcs12", PkiError, "The file is not a PKCS#12 (.pfx) file.")
PFX_DAMAGED = code(
    "pfx.damaged",
    PkiError,
    "The PKCS#12 file is malformed, or a part of it (the private key) is damaged.",
)
PFX_UNSUPPORTED = code(
    "pfx.unsupported",
    PkiError,
    "The PKCS#12 file uses what certward does not read or rewrite: another version, "
    "public-key integrity, a MAC digest, safe type or cipher it does not implement.",
)
PFX_ITERATIONS_OUT_OF_RANGE = code(
    "pfx.iterations_out_of_range",
    PkiError,
    "The file's MAC or encryption asks for an iteration count outside 1-2,000,000.",
)
PFX_PASSWORD_MISSING = code(
    "pfx.password_missing",
    PkiError,
    "The PKCS#12 file is password-protected and no password was given.",
)
PFX_PASSWORD_WRONG = code(
    "pfx.password_wrong",
    PkiError,
    "The password does not open the PKCS#12 file (or the file was altered or damaged).",
)
PFX_UNDECRYPTABLE = code(
    "pfx.undecryptable",
    PkiError,
    "OpenSSL cannot decrypt the file's safes either (a cipher it lacks, or a wrong password "
    "in a file without a MAC).",
)
PFX_KEY_COUNT_UNSUPPORTED = code(
    "pfx.key_count_unsupported",
    PkiError,
    "The PKCS#12 file holds more than one private key (or, to be rewritten, none); certward "
    "handles files with one.",
)
PFX_LEAF_MISSING = code(
    "pfx.leaf_missing",
    PkiError,
    "No certificate in the PKCS#12 file belongs to its private key.",
)

# -- certificates read lazily (certward.pki.certinfo) -------------------------------------------
CERTIFICATE_DAMAGED = code(
    "pki.certificate_damaged",
    PkiError,
    "A certificate loads but one of its parts (named in the fact 'field': subject, "
    "extensions, public key ...) is malformed or of a kind certward cannot read.",
)
