"""The ``certificate_facts`` table (revision 0009): what each certificate says about itself,
one row per thumbprint, shared by every store that holds the certificate
(:class:`certward.model.certfacts.CertFacts`; read and written by
:mod:`certward.storage.facts_repo`).

A Core table on the models' metadata: its reads and writes are Core statements, and
nothing maps it to an ORM class. Not audited: it is derived from the certificates' DER,
which is.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, LargeBinary, String, Table, Text

from certward.storage.schema import Base

certificate_facts = Table(
    "certificate_facts",
    Base.metadata,
    Column("thumbprint", String(40), primary_key=True),
    Column("format", Integer, nullable=False),  # certward.model.certfacts.FACTS_FORMAT
    Column("subject", LargeBinary, nullable=False),  # DER
    Column("issuer", LargeBinary, nullable=False),
    Column("subject_text", Text, nullable=False),
    Column("issuer_text", Text, nullable=False),
    Column("common_name", Text),
    Column("dns_names", Text, nullable=False),  # a JSON array
    Column("not_before", DateTime(timezone=True), nullable=False),
    Column("not_after", DateTime(timezone=True), nullable=False),
    Column("self_signed", Boolean, nullable=False),
    Column("is_ca", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("key_type", String(16), nullable=False),
    Column("key_size", Integer, nullable=False),
    Column("signature_algorithm", String(128), nullable=False),
    Column("serial_number", String(128), nullable=False),
)
