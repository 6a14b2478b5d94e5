"""The typed context every resolver receives."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from analytics.access import OPEN_ACCESS, AccessDeniedError, Principal
from analytics.alerts import MailSettings
from analytics.ask.service import AskService
from analytics.jobs import JobRunner
from analytics.store import AnalyticsStore
from resolvers.dataloaders import DataLoaders


class OperationRecorder(Protocol):
    """Where the schema reports each GraphQL operation (the server's metrics)."""

    def graphql_operation(
        self, name: str | None, kind: str, seconds: float, error_codes: Sequence[str]
    ) -> None: ...


@dataclass
class Context:
    """Built fresh per request: loaders must never leak rows between requests."""

    store: AnalyticsStore
    default_dataset: str
    loaders: DataLoaders
    runner: JobRunner | None = None
    upload_dir: Path | None = None
    model_dir: Path | None = None
    training_timeout: float = 300.0
    request: Any = None
    response: Any = None
    request_id: str | None = None
    alert_mail: MailSettings | None = None
    ask: AskService | None = None
    # Who is asking; the open-access caller when the server runs without authentication.
    principal: Principal = OPEN_ACCESS
    client_ip: str | None = None
    # The graphql-transport-ws connection_init payload, on WebSocket requests.
    connection_params: dict[str, Any] | None = None
    metrics: OperationRecorder | None = None
    # Work shared by the fields of one request (see resolvers._utils.once_per_request).
    extras: dict[Hashable, Any] = field(default_factory=dict)

    @property
    def jobs(self) -> JobRunner:
        if self.runner is None:
            raise RuntimeError("this context has no job runner")
        return self.runner

    @property
    def ask_service(self) -> AskService:
        if self.ask is None:
            raise RuntimeError("this context has no askAI service")
        return self.ask

    @property
    def caller(self) -> str:
        """What the askAI budget and conversations know the caller by."""
        return self.principal.subject

    def dataset_id(self, dataset: str | None) -> str:
        """The dataset a field works on: the one named, else the caller's default.

        Every dataset argument passes here, so a scoped caller is refused the
        same way whether or not the dataset exists.
        """
        if dataset:
            self.principal.require_dataset(dataset)
            return dataset
        if self.principal.can_see(self.default_dataset):
            return self.default_dataset
        scope = self.principal.datasets or frozenset()
        if len(scope) == 1:
            return next(iter(scope))
        raise AccessDeniedError(
            f"name a dataset: the default dataset {self.default_dataset!r} is outside "
            "this caller's scope"
        )

    def require_dataset(self, dataset_id: str) -> str:
        """``dataset_id`` if the caller may see it (ids found in jobs, models, ...)."""
        self.principal.require_dataset(dataset_id)
        return dataset_id
