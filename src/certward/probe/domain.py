"""Probing a mail domain: its MX hosts (by preference) on port 25, MTA-STS, TLS-RPT, DANE.

DNS goes through dnspython's asyncio resolver (Twisted runs on the asyncio loop); DANE only
trusts answers the resolver marked with the AD flag.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.rdatatype
import dns.resolver
from twisted.internet import defer
from twisted.internet.error import ConnectError

from certward.probe import analysis, policy, score
from certward.probe.dialogue import ProbeOptions, _connect, _within, probe
from certward.probe.report import EndpointReport
from certward.probe.targets import DnsOptions, Protocol, Target
from certward.probe.wire import ProbeFailure, ProbeTlsCreator, TlsObservation

POLICY_PATH = "/.well-known/mta-sts.txt"
__all__ = ["Dns", "DomainReport", "probe_domain"]


@dataclass
class DomainReport:
    domain: str
    mx: list[dict[str, Any]] = field(default_factory=list)
    mta_sts: policy.MtaStsReport = field(default_factory=policy.MtaStsReport)
    tls_rpt: policy.TlsRptReport = field(default_factory=policy.TlsRptReport)
    dane: list[policy.DaneReport] = field(default_factory=list)
    score: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "mx": self.mx,
            "mta_sts": self.mta_sts.to_json(),
            "tls_rpt": self.tls_rpt.to_json(),
            "dane": [d.to_json() for d in self.dane],
            "score": self.score,
            "errors": self.errors,
        }


class Dns:
    """One resolver for a whole run: URL targets (with --resolver) and every mail domain.
    The system's configuration (/etc/resolv.conf) is read at the first query, once."""

    def __init__(self, options: DnsOptions) -> None:
        self.options = options
        self._resolver: dns.asyncresolver.Resolver | None = None
        self._where = (
            f"the resolver {options.resolver[0]}:{options.resolver[1]}"
            if options.resolver is not None
            else "the system's DNS servers"
        )

    def _configured(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            chosen = self.options.resolver
            resolver = dns.asyncresolver.Resolver(configure=chosen is None)
            if chosen is not None:
                resolver.nameservers = [chosen[0]]
                resolver.port = chosen[1]
            resolver.use_edns(0, dns.flags.DO, 1232)
            resolver.flags = dns.flags.RD | dns.flags.AD
            resolver.lifetime = 10.0
            self._resolver = resolver
        return self._resolver

    async def query(self, name: str, kind: str) -> tuple[list[Any], bool]:
        """Records and whether the answer was authenticated (AD); [] when none."""
        resolver = self._configured()
        future = asyncio.ensure_future(resolver.resolve(name, kind, raise_on_no_answer=False))
        try:
            answer = await defer.Deferred.fromFuture(future)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers, dns.exception.Timeout):
            return [], False
        records = list(answer.rrset) if answer.rrset is not None else []
        return records, bool(answer.response.flags & dns.flags.AD)

    async def txt(self, name: str) -> list[str]:
        records, _ = await self.query(name, "TXT")
        return [b"".join(r.strings).decode("utf-8", errors="replace") for r in records]

    async def address(self, name: str) -> str | None:
        """The first A record's address, else the first AAAA's; None when neither."""
        for kind in ("A", "AAAA"):
            records, _ = await self.query(name, kind)
            if records:
                return str(records[0].address)
        return None

    async def resolve(self, name: str) -> str:
        """For URL targets (``ProbeOptions.resolve``): an address or a failed DNS stage."""
        address = await self.address(name)
        if address is None:
            raise ProbeFailure(f"no address for {name} from {self._where}")
        return address


async def probe_domain(
    reactor: Any, domain: str, options: ProbeOptions, resolver: Dns
) -> tuple[DomainReport, list[EndpointReport]]:
    dns_options = resolver.options
    report = DomainReport(domain.lower().rstrip("."))
    records, _ = await resolver.query(report.domain, "MX")
    exchanges = sorted((r.preference, r.exchange.to_text().rstrip(".")) for r in records)
    if not exchanges:  # RFC 5321: no MX means the domain itself
        exchanges = [(0, report.domain)]
        report.errors.append("no MX records: the domain's own address is used")
    endpoints: list[EndpointReport] = []
    for preference, host in exchanges:
        address = await resolver.address(host)
        entry: dict[str, Any] = {"host": host, "preference": preference, "address": address}
        report.mx.append(entry)
        if address is None:
            report.errors.append(f"MX {host} has no A record")
            continue
        target = Target(f"smtp://{host}:{dns_options.mx_port}", Protocol.SMTP, host,
                        dns_options.mx_port, address)  # fmt: skip
        endpoint = await probe(reactor, target, options)
        endpoint.score = score.endpoint_score(endpoint)
        entry["score"] = endpoint.score
        endpoints.append(endpoint)
        tlsa, authenticated = await resolver.query(f"_25._tcp.{host}", "TLSA")
        report.dane.append(
            policy.dane(
                host,
                [policy.Tlsa(r.usage, r.selector, r.mtype, r.cert) for r in tlsa],
                authenticated=authenticated,
                chain=endpoint.presented_chain,
            )
        )
    sts_txt = await resolver.txt(f"_mta-sts.{report.domain}")
    body, content_type, error = (None, "", "no v=STSv1 record")
    if any(t.lower().startswith("v=stsv1") for t in sts_txt):
        fetch = _fetch_policy(reactor, resolver, report.domain, options, dns_options.policy_port)
        try:  # the whole fetch within one stage timeout: a slow server cannot hold the probe
            body, content_type, error = await _within(reactor, options.timeout, fetch)
        except defer.TimeoutError:
            error = f"the policy did not arrive within {options.timeout:g} s"
    report.mta_sts = policy.mta_sts(
        sts_txt, policy=body, content_type=content_type, fetch_error=error,
        mx_hosts=[host for _, host in exchanges],
    )  # fmt: skip
    report.tls_rpt = policy.tls_rpt(await resolver.txt(f"_smtp._tls.{report.domain}"))
    report.score = score.domain_score(endpoints, report.mta_sts, report.tls_rpt, report.dane)
    return report, endpoints


async def _fetch_policy(
    reactor: Any, resolver: Dns, domain: str, options: ProbeOptions, port: int
) -> tuple[bytes | None, str, str]:
    """GET https://mta-sts.<domain>/.well-known/mta-sts.txt: valid certificate for the
    host, no redirects, at most 64 KiB."""
    host = f"mta-sts.{domain}"
    address = await resolver.address(host)
    if address is None:
        return None, "", f"{host} has no A record"
    target = Target(f"https://{host}:{port}", Protocol.HTTPS, host, port, address)
    wire = None
    try:
        wire = await _connect(reactor, target, options.timeout)
        connection = await wire.start_tls(ProbeTlsCreator(host, TlsObservation()))
        chain = list(connection.get_peer_cert_chain(as_cryptography=True) or [])
        judged = analysis.certificate_report(
            chain, host=host, now=options.now(), roots=options.roots
        )
        if not judged.trusted or judged.name_match == "none":
            return None, "", f"the certificate of {host} is not valid for it"
        wire.send(
            f"GET {POLICY_PATH} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        )
        status = await wire.line()
        headers: dict[str, str] = {}
        while line := await wire.line():
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        if status.split()[1:2] != ["200"]:
            return None, "", f"HTTP status {status!r} (redirects are not followed)"
        declared = headers.get("content-length", "")
        if declared.isdigit():
            if int(declared) > policy.MAX_POLICY_BYTES:
                return None, "", f"the policy is {declared} bytes, over 64 KiB"
            body = await wire.read_exactly(int(declared))
        else:
            body = await wire.read_to_close(policy.MAX_POLICY_BYTES)
        return body, headers.get("content-type", ""), ""
    except ProbeFailure as exc:
        return None, "", str(exc)
    except (OSError, ConnectError) as exc:
        return None, "", f"cannot connect to {host}:{port}: {exc.__class__.__name__}"
    finally:
        if wire is not None:
            wire.close()
