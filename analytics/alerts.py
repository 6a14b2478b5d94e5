"""Drift alerts by email (SMTP), sent when a drift check finds the data has drifted."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage

from analytics.drift import DriftResult, FeatureDrift


@dataclass(frozen=True)
class MailSettings:
    """Where and how alerts are sent; ``password`` never appears in a repr or log."""

    host: str
    recipients: tuple[str, ...]
    port: int = 25
    sender: str = "salescope@localhost"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("host: an SMTP host is required")
        if not self.recipients:
            raise ValueError("recipients: at least one recipient is required")
        if self.timeout <= 0:
            raise ValueError(f"timeout: must be > 0 seconds, got {self.timeout}")


def build_drift_alert(
    settings: MailSettings, result: DriftResult, dataset_id: str, reference_id: str
) -> EmailMessage:
    """The alert email: which dataset drifted from which reference, and in which features.

    Parameters
    ----------
    settings : MailSettings
        Sender and recipients.
    result : DriftResult
        The drift check.
    dataset_id, reference_id : str
        What was compared.

    Returns
    -------
    email.message.EmailMessage
    """
    message = EmailMessage()
    message["Subject"] = (
        f"[salescope] Drift: dataset {dataset_id!r} drifted from {reference_id!r} "
        f"({result.drifted_count} of {result.tested_count} features, "
        f"{result.drifted_share:.0%})"
    )
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    lines = [
        f"Dataset {dataset_id!r} has drifted from reference {reference_id!r}:",
        f"{result.drifted_count} of {result.tested_count} tested features drifted "
        f"({result.drifted_share:.0%}; the dataset drifts at 50%).",
        "",
        "Drifted features:",
        *(f"- {_describe(feature)}" for feature in result.drifted_features),
    ]
    stable = [feature for feature in result.features if feature.tested and not feature.drifted]
    if stable:
        lines += ["", "Stable features:", *(f"- {_describe(feature)}" for feature in stable)]
    if result.missing_features:
        lines += ["", f"Missing from the dataset: {', '.join(result.missing_features)}"]
    if result.new_features:
        lines += ["", f"New in the dataset (not compared): {', '.join(result.new_features)}"]
    message.set_content("\n".join(lines) + "\n")
    return message


def send_drift_alert(
    settings: MailSettings, result: DriftResult, dataset_id: str, reference_id: str
) -> None:
    """Email the drift alert to ``settings.recipients``; blocks, so call it off the event loop.

    Raises
    ------
    smtplib.SMTPException, OSError
        When the server cannot be reached or refuses the message.
    """
    message = build_drift_alert(settings, result, dataset_id, reference_id)
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        smtp.send_message(message)


def _describe(feature: FeatureDrift) -> str:
    test = feature.test.value if feature.test else "not tested"
    text = f"{feature.feature} ({feature.kind.value.lower()}): {test}"
    if feature.p_value is not None:
        text += f" statistic {feature.statistic:.4g}, p-value {feature.p_value:.4g}"
    elif feature.distance is not None:
        text += f" distance {feature.distance:.4g}"
    return text + f" (threshold {feature.threshold:g})"
