from __future__ import annotations

from dataclasses import dataclass

import structlog

from analytics.alerts import MailSettings, send_drift_alert
from analytics.drift import DriftReportResult, check_drift, find_model_version
from resolvers._utils import off_loop
from resolvers.context import Context

logger = structlog.get_logger("salescope.drift")


@dataclass(frozen=True)
class DriftCheck:
    """A drift report and what became of its email alert."""

    report: DriftReportResult
    alert_sent: bool
    alert_error: str | None = None


async def resolve_drift(context: Context, dataset: str, reference: str) -> DriftCheck:
    dataset = context.dataset_id(dataset)
    model = await off_loop(find_model_version, context.store, reference)
    context.require_dataset(model.dataset_id if model is not None else reference)
    report = await off_loop(check_drift, context.store, dataset, reference)
    mail = context.alert_mail
    if mail is None or not report.result.drifted:
        return DriftCheck(report, alert_sent=False)
    try:
        await off_loop(_alert_once, context, mail, report)
    except Exception as error:
        # The report stands on its own: a mail server that is down must not fail the query.
        logger.warning(
            "drift alert not sent",
            dataset=report.dataset_id,
            reference=report.reference_id,
            smtp_host=mail.host,
            exc_info=True,
        )
        return DriftCheck(
            report,
            alert_sent=False,
            alert_error=f"the alert email could not be sent ({type(error).__name__})",
        )
    return DriftCheck(report, alert_sent=True)


def _alert_once(context: Context, mail: MailSettings, report: DriftReportResult) -> None:
    """Send the alert unless this process already did for exactly these versions.

    A dashboard polling ``drift`` would otherwise mail on every poll. The
    sent marker lives in the results cache under the dataset's version, so a
    new version of either side alerts again; a failed send is not cached and
    is retried by the next query.
    """

    def send() -> bool:
        send_drift_alert(mail, report.result, report.dataset_id, report.reference_id)
        logger.info("drift alert sent", dataset=report.dataset_id, reference=report.reference_id)
        return True

    key = ("drift_alert", report.reference_kind, report.reference_id, report.reference_version)
    context.store.cache.get_or_compute(report.dataset_id, report.dataset_version, key, send)
