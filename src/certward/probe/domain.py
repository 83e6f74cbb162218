"""Probing a mail domain: its MX hosts (by preference) on port 25, MTA-STS, TLS-RPT, DANE.

DNS goes through dnspython's asyncio resolver (Twisted runs on the asyncio loop); DANE only
trusts answers the resolver marked with the AD flag.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.rdatatype
import dns.resolver
from twisted.internet import defer

from certward.probe import policy, policy_fetch, score
from certward.probe.endpoint import ProbeOptions, probe
from certward.probe.report import EndpointReport, FailureReason
from certward.probe.stages import within
from certward.probe.targets import DnsOptions, Protocol, Target
from certward.probe.wire import ProbeFailure

__all__ = ["Dns", "DomainReport", "probe_domain"]


@dataclass(frozen=True, slots=True)
class MxHost:
    host: str
    preference: int
    address: str | None  # None: no A (or AAAA) record, so it was not probed
    score: int | None = None  # the endpoint's score, when it was probed

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "host": self.host, "preference": self.preference, "address": self.address,
        }  # fmt: skip
        if self.score is not None:
            data["score"] = self.score
        return data


@dataclass(frozen=True, slots=True)
class DomainReport:
    domain: str
    mx: tuple[MxHost, ...]
    mta_sts: policy.MtaStsReport
    tls_rpt: policy.TlsRptReport
    dane: tuple[policy.DaneReport, ...]
    score: int
    errors: tuple[str, ...]

    @property
    def probed(self) -> bool:
        """Whether any MX was probed."""
        return any(mx.score is not None for mx in self.mx)

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "mx": [mx.to_json() for mx in self.mx],
            "mta_sts": self.mta_sts.to_json(),
            "tls_rpt": self.tls_rpt.to_json(),
            "dane": [d.to_json() for d in self.dane],
            "score": self.score,
            "errors": list(self.errors),
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
            raise ProbeFailure(
                FailureReason.NO_ADDRESS, f"no address for {name} from {self._where}"
            )
        return address


async def probe_domain(
    reactor: Any, domain: str, options: ProbeOptions, resolver: Dns
) -> tuple[DomainReport, list[EndpointReport]]:
    dns_options = resolver.options
    name = domain.lower().rstrip(".")
    errors: list[str] = []
    records, _ = await resolver.query(name, "MX")
    exchanges = sorted((r.preference, r.exchange.to_text().rstrip(".")) for r in records)
    if not exchanges:  # RFC 5321: no MX means the domain itself
        exchanges = [(0, name)]
        errors.append("no MX records: the domain's own address is used")
    mx: list[MxHost] = []
    dane: list[policy.DaneReport] = []
    endpoints: list[EndpointReport] = []
    for preference, host in exchanges:
        address = await resolver.address(host)
        if address is None:
            mx.append(MxHost(host, preference, None))
            errors.append(f"MX {host} has no A record")
            continue
        target = Target(f"smtp://{host}:{dns_options.mx_port}", Protocol.SMTP, host,
                        dns_options.mx_port, address)  # fmt: skip
        endpoint = await probe(reactor, target, options)
        endpoint = replace(endpoint, score=score.endpoint_score(endpoint))
        mx.append(MxHost(host, preference, address, endpoint.score))
        endpoints.append(endpoint)
        tlsa, authenticated = await resolver.query(f"_25._tcp.{host}", "TLSA")
        dane.append(
            policy.dane(
                host,
                [policy.Tlsa(r.usage, r.selector, r.mtype, r.cert) for r in tlsa],
                authenticated=authenticated,
                chain=endpoint.presented_chain,
            )
        )
    sts_txt = await resolver.txt(f"_mta-sts.{name}")
    fetched = policy_fetch.FetchedPolicy(None, error="no v=STSv1 record")
    if any(t.lower().startswith("v=stsv1") for t in sts_txt):
        fetch = _fetch_policy(reactor, resolver, name, options, dns_options.policy_port)
        try:  # the whole fetch within one stage timeout: a slow server cannot hold the probe
            fetched = await within(reactor, options.timeout, fetch)
        except defer.TimeoutError:
            error = f"the policy did not arrive within {options.timeout:g} s"
            fetched = policy_fetch.FetchedPolicy(None, error=error)
    mta_sts = policy.mta_sts(
        sts_txt, policy=fetched.body, content_type=fetched.content_type,
        fetch_error=fetched.error, mx_hosts=[host for _, host in exchanges],
    )  # fmt: skip
    tls_rpt = policy.tls_rpt(await resolver.txt(f"_smtp._tls.{name}"))
    report = DomainReport(
        name, tuple(mx), mta_sts, tls_rpt, tuple(dane),
        score.domain_score(endpoints, mta_sts, tls_rpt, dane), tuple(errors),
    )  # fmt: skip
    return report, endpoints


async def _fetch_policy(
    reactor: Any, resolver: Dns, domain: str, options: ProbeOptions, port: int
) -> policy_fetch.FetchedPolicy:
    """The policy of ``domain`` from ``mta-sts.<domain>``, at the address the resolver gives."""
    host = f"mta-sts.{domain}"
    address = await resolver.address(host)
    if address is None:
        return policy_fetch.FetchedPolicy(None, error=f"{host} has no A record")
    return await policy_fetch.fetch(
        reactor, host=host, address=address, port=port, timeout=options.timeout,
        roots=options.anchors, now=options.now,
    )  # fmt: skip
