"""The running API against its committed OpenAPI document, by schemathesis: generated
requests (valid and invalid) with an admin token never get a 5xx, and every response
matches the status codes, media types and schemas the document declares.

``POST /probes`` is left out: it would probe whatever hosts the generator invents. The
other routes that change the store are included; their generated paths name servers and
thumbprints that do not exist, so they are refused, as they must be, without a 5xx.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.generation.case import Case

from certward.interfaces.api import openapi_document
from certward.model.access import AccessRole
from tests.api.conftest import ApiServer

schema = schemathesis.openapi.from_dict(openapi_document()).exclude(
    method="POST", path="/api/v1/probes"
)
# Generated examples only (valid and invalid): the coverage phase's hundreds of boundary
# cases per operation would take minutes; the suite has seconds for this.
schema.config.phases.update(phases=["examples", "fuzzing"])


@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_document(case: Case, api: ApiServer) -> None:
    case.call_and_validate(
        base_url=api.base_url,
        headers={"Authorization": f"Bearer {api.tokens[AccessRole.ADMIN]}"},
        # A valid request may still name a server or certificate that does not exist.
        excluded_checks=[positive_data_acceptance],
    )
