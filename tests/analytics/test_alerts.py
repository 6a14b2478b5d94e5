"""Drift alert emails, delivered to a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pandas as pd
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword
from pydantic import ValidationError

from analytics.alerts import MailSettings, build_drift_alert, send_drift_alert
from analytics.drift import DriftResult, detect_drift
from server.settings import Settings


class Inbox:
    """Collects what an aiosmtpd server receives."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        return [
            message_from_bytes(
                bytes(e.original_content or b""), _class=EmailMessage, policy=policy.default
            )
            for e in self.envelopes
        ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpServer:
    def __init__(self, controller: Controller, inbox: Inbox) -> None:
        self.controller = controller
        self.inbox = inbox
        self.port = int(controller.port)

    def settings(self, **overrides: Any) -> MailSettings:
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "sender": "salescope@example.com",
            "recipients": ("ops@example.com", "data@example.com"),
            "timeout": 5.0,
        }
        return MailSettings(**{**values, **overrides})


def start_smtp_server(**controller_options: Any) -> Iterator[SmtpServer]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **controller_options)
    controller.start()
    try:
        yield SmtpServer(controller, inbox)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    yield from start_smtp_server()


def drifted_result() -> DriftResult:
    reference = pd.DataFrame(
        {
            "monetary": pd.Series([1.0, 2.0, 3.0, 4.0, 5.0]),
            "region": pd.Series(["North"] * 5, dtype="object"),
        }
    )
    current = pd.DataFrame(
        {
            "monetary": pd.Series([6.0, 7.0, 8.0, 9.0, 10.0]),
            "region": pd.Series(["North"] * 5, dtype="object"),
        }
    )
    return detect_drift(current, reference)


def test_a_drift_alert_reaches_every_recipient(smtp_server: SmtpServer) -> None:
    result = drifted_result()
    assert result.drifted and result.drifted_count == 1

    send_drift_alert(smtp_server.settings(), result, "june", "may")

    (envelope,) = smtp_server.inbox.envelopes
    assert envelope.mail_from == "salescope@example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "data@example.com"]
    (message,) = smtp_server.inbox.messages
    # A long subject is folded after "Subject:"; unfolding keeps the fold's space.
    assert message["Subject"].strip() == (
        "[salescope] Drift: dataset 'june' drifted from 'may' (1 of 2 features, 50%)"
    )
    assert message["To"] == "ops@example.com, data@example.com"
    body = message.get_content().replace("\r\n", "\n")
    assert "- monetary (numeric): KS statistic 1, p-value 0.007937 (threshold 0.05)" in body
    assert "Stable features:\n- region (categorical): CHI_SQUARE" in body


def test_login_is_used_when_a_username_is_set() -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any):
        assert isinstance(auth, LoginPassword)
        logins.append((auth.login, auth.password))
        return AuthResult(success=True)

    for server in start_smtp_server(authenticator=authenticator, auth_require_tls=False):
        settings = server.settings(username="robot", password="s3cret")
        send_drift_alert(settings, drifted_result(), "june", "may")
        assert len(server.inbox.envelopes) == 1

    assert logins == [(b"robot", b"s3cret")]


def test_an_unreachable_server_raises_for_the_caller_to_handle() -> None:
    settings = MailSettings(host="127.0.0.1", port=free_port(), recipients=("a@example.com",))

    with pytest.raises(OSError):
        send_drift_alert(settings, drifted_result(), "june", "may")


def test_the_body_lists_features_missing_and_new() -> None:
    reference = pd.DataFrame({"x": pd.Series([1.0, 2.0, 3.0]), "old": pd.Series([1.0, 2, 3])})
    current = pd.DataFrame({"x": pd.Series([7.0, 8.0, 9.0]), "new": pd.Series([1.0, 2, 3])})
    result = detect_drift(current, reference, reference_rows=5000)
    settings = MailSettings(host="smtp.example.com", recipients=("a@example.com",))

    body = build_drift_alert(settings, result, "june", "may").get_content()

    assert "1 of 1 tested features drifted (100%; the dataset drifts at 50%)" in body
    assert "- x (numeric): WASSERSTEIN distance 7.348 (threshold 0.1)" in body  # 6 / sqrt(2/3)
    assert "Missing from the dataset: old" in body
    assert "New in the dataset (not compared): new" in body


def test_mail_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="recipients"):
        MailSettings(host="smtp.example.com", recipients=())
    with pytest.raises(ValueError, match="timeout"):
        MailSettings(host="smtp.example.com", recipients=("a@example.com",), timeout=0)
    secret = MailSettings(host="h", recipients=("a@example.com",), password="s3cret")
    assert "s3cret" not in repr(secret)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SALESCOPE_SMTP_HOST", raising=False)
    assert Settings().alert_mail is None

    monkeypatch.setenv("SALESCOPE_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("SALESCOPE_SMTP_PORT", "587")
    monkeypatch.setenv("SALESCOPE_SMTP_USERNAME", "robot")
    monkeypatch.setenv("SALESCOPE_SMTP_PASSWORD", "s3cret")
    monkeypatch.setenv("SALESCOPE_SMTP_STARTTLS", "true")
    monkeypatch.setenv("SALESCOPE_SMTP_SENDER", "salescope@example.com")
    monkeypatch.setenv("SALESCOPE_SMTP_RECIPIENTS", "ops@example.com, data@example.com")
    monkeypatch.setenv("SALESCOPE_SMTP_TIMEOUT", "3.5")
    settings = Settings()

    assert "s3cret" not in repr(settings)
    assert settings.alert_mail == MailSettings(
        host="smtp.example.com",
        recipients=("ops@example.com", "data@example.com"),
        port=587,
        sender="salescope@example.com",
        username="robot",
        password="s3cret",
        starttls=True,
        timeout=3.5,
    )
    monkeypatch.setenv("SALESCOPE_SMTP_RECIPIENTS", '["ops@example.com"]')
    assert Settings().smtp_recipients == ["ops@example.com"]


def test_an_smtp_host_without_recipients_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESCOPE_SMTP_HOST", "smtp.example.com")

    with pytest.raises(ValidationError, match="smtp_recipients"):
        Settings()
