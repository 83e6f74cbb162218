"""The repository's reads and writes for deployments and their results (a mixin of
:class:`certward.storage.repository.Repository`, in the same transaction)."""

from __future__ import annotations

import json

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from certward.codes.deploy import DEPLOY_EXISTS, DEPLOY_NOT_FOUND
from certward.model.deploy import Deployment, DeployOutcome
from certward.storage import audit_capture
from certward.storage.schema_deploy import DeploymentRow, DeployResultRow
from certward.storage.snapshot_rows import deploy_outcome_of as _outcome
from certward.storage.snapshot_rows import deployment_of as _deployment

# Deployments are configuration, audited; results are the executor's own record.
audit_capture.register_kind("deployments", "deployment", lambda _s, row: str(row.name))
audit_capture.SKIPPED_TABLES.add("deploy_results")


class DeployRepository:
    """Deployments and the outcomes of their runs."""

    _session: Session

    def deployments(self, *, host: str | None = None) -> list[Deployment]:
        """Every deployment, by name; ``host`` given: only that host's."""
        query = select(DeploymentRow).order_by(DeploymentRow.name)
        if host is not None:
            query = query.where(func.lower(DeploymentRow.host) == host.lower())
        return [_deployment(row) for row in self._session.scalars(query)]

    def find_deployment(self, name: str) -> Deployment | None:
        row = self._deployment_row(name)
        return None if row is None else _deployment(row)

    def deployment(self, name: str) -> Deployment:
        found = self.find_deployment(name)
        if found is None:
            raise DEPLOY_NOT_FOUND(f"no deployment is named {name}", deployment=name)
        return found

    def add_deployment(self, d: Deployment) -> None:
        if self._deployment_row(d.name) is not None:
            raise DEPLOY_EXISTS(f"a deployment named {d.name} exists", deployment=d.name)
        self._session.add(
            DeploymentRow(
                name=d.name,
                kind=d.kind.value,
                server=d.server,
                services=d.services.value.value,
                host=d.host,
                cert_path=d.paths.certificate,
                key_path=d.paths.key,
                chain_path=d.paths.chain,
                owner=d.owner,
                group_name=d.group,
                key_mode=d.key_mode,
                cert_mode=d.cert_mode,
                reload=json.dumps(list(d.reload)),
                verify=d.verify,
                sni=d.sni,
                wait=d.wait,
            )
        )
        self._session.flush()

    def remove_deployment(self, name: str) -> Deployment:
        row = self._deployment_row(name)
        if row is None:
            raise DEPLOY_NOT_FOUND(f"no deployment is named {name}", deployment=name)
        found = _deployment(row)
        self._session.execute(delete(DeployResultRow).where(DeployResultRow.deployment == row.name))
        self._session.delete(row)
        self._session.flush()
        return found

    def add_deploy_result(self, name: str, outcome: DeployOutcome, *, source: str) -> None:
        self._session.add(
            DeployResultRow(
                deployment=name,
                at=outcome.when,
                ok=outcome.ok,
                deployed=outcome.deployed,
                served=outcome.served,
                previous=outcome.previous,
                rolled_back=outcome.rolled_back,
                code=outcome.code,
                detail=outcome.detail,
                steps=json.dumps(list(outcome.steps)),
                source=source,
            )
        )
        self._session.flush()

    def deploy_results(self, name: str, *, limit: int = 20) -> list[DeployOutcome]:
        """The newest outcomes first: the last received, not the latest ``when`` (an
        agent's clock dates its outcomes, and a clock can be wrong)."""
        rows = self._session.scalars(
            select(DeployResultRow)
            .where(DeployResultRow.deployment == name)
            .order_by(DeployResultRow.id.desc())
            .limit(limit)
        )
        return [_outcome(row) for row in rows]

    def last_deploy_results(self) -> dict[str, DeployOutcome]:
        """Each deployment's newest outcome, by name (one query)."""
        newest = (
            select(DeployResultRow.deployment, func.max(DeployResultRow.id).label("id"))
            .group_by(DeployResultRow.deployment)
            .subquery()
        )
        rows = self._session.scalars(
            select(DeployResultRow).join(newest, DeployResultRow.id == newest.c.id)
        )
        return {row.deployment: _outcome(row) for row in rows}

    def _deployment_row(self, name: str) -> DeploymentRow | None:
        return self._session.scalars(
            select(DeploymentRow).where(func.lower(DeploymentRow.name) == name.lower())
        ).first()
