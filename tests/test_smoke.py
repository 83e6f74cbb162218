from tests.conftest import Cli, thumbprints


def test_org_and_server_basics(org: Cli) -> None:
    certs = thumbprints(org, "EXCH01")
    subjects = {c["subject"]: c for c in certs.values()}
    assert subjects["CN=EXCH01"]["services_flags"] == "IP.WS.."
    assert subjects["CN=Microsoft Exchange Server Auth Certificate"]["services_flags"] == "....S.."
