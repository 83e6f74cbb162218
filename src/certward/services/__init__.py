"""Use cases as transactions over the store (the organisation's certificate lifecycle)."""

from certward.services.certificates import CertificateService
from certward.services.organisation import OrganisationService
from certward.services.stores import TrustStoreService

__all__ = ["CertificateService", "OrganisationService", "TrustStoreService"]
