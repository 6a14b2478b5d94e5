"""The typed context every resolver receives."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analytics.alerts import MailSettings
from analytics.ask.service import ANONYMOUS, AskService
from analytics.jobs import JobRunner
from analytics.store import AnalyticsStore
from resolvers.dataloaders import DataLoaders


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
    # Who is asking: keys the askAI budget and conversations (API keys come with issue 6).
    caller: str = ANONYMOUS
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

    def dataset_id(self, dataset: str | None) -> str:
        """The dataset a field works on: the one named, else the caller's default."""
        return dataset if dataset else self.default_dataset
