"""The approval SLA sweeper: every 15 minutes (EventBridge), remind, escalate or expire approvals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.registry import WORKFLOWS, ApprovalSla
from functions.shared.adapters import get_email, get_files
from functions.shared.approvals import ApprovalService, SweepReport
from functions.shared.config import settings
from functions.shared.observability import logger


def sla_of(workflow: str) -> ApprovalSla:
    return WORKFLOWS[workflow].approval_sla if workflow in WORKFLOWS else ApprovalSla()


def sweep(now: datetime) -> SweepReport:
    return ApprovalService(settings()).sweep(now, sla_of, get_email(), get_files())


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = sweep(datetime.now(UTC))
    logger.info(
        "approvals swept", reminded=report.reminded, escalated=report.escalated, expired=report.expired
    )
    return {"reminded": report.reminded, "escalated": report.escalated, "expired": report.expired}
