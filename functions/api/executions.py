"""Starting, reading and finding executions: the domain behind the machine routes of the API.

Execution names are ``<workflow>-<suffix>``: the workflow is recoverable from the id alone, so
``GET /executions/{executionId}`` needs no lookup table. With an ``Idempotency-Key`` the suffix is
a hash of the key, so a retried request maps to the same execution: Step Functions itself answers
a second ``StartExecution`` with the same name and input with the same execution, and refuses other
input (``ExecutionAlreadyExists``, which becomes 409 here). Idempotency keys are per client (the
hash covers the client id too): two clients that happen to pick the same key start two runs.

The caller (``StartedBy``, from the authorizer's claims) is recorded in the execution input under
``startedBy``: the Step Functions console shows it with the input, ``GET /executions/{id}`` returns
it, and the approval steps read its owner (``functions/shared/step_handler.py``). Input models never
declare the field, so a caller cannot set it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from functions.registry import WORKFLOWS, WorkflowSpec
from functions.shared import asl
from functions.shared.adapters.errors import error_code
from functions.shared.api_clients import StartedBy
from functions.shared.approvals import ApprovalStore
from functions.shared.ledger import RunLedger, get_run_ledger
from functions.shared.observability import logger
from functions.shared.requester import STARTED_BY_FIELD
from functions.shared.timeline import build_timeline
from functions.shared.workflow_input import validate_input

MAX_SEARCH = 100
STATUSES = {"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"}


class NotFound(LookupError):
    pass


class IdempotencyConflict(Exception):
    """The Idempotency-Key was already used with a different body."""


class NotRedrivable(Exception):
    """Step Functions' ``ExecutionNotRedrivable``: the run succeeded, still runs, or is too old."""


class Redriven(BaseModel):
    executionId: str
    executionArn: str
    redriveDate: str
    statusUrl: str


class Started(BaseModel):
    executionId: str
    executionArn: str
    statusUrl: str
    created: bool


def execution_name(workflow: str, idempotency_key: str | None, client_id: str = "") -> str:
    if idempotency_key is None:
        return f"{workflow}-{uuid.uuid4().hex}"
    scoped = f"{client_id}\n{idempotency_key}" if client_id else idempotency_key
    suffix = hashlib.sha256(scoped.encode()).hexdigest()[:40]
    return f"{workflow}-{suffix}"


def workflow_of(execution_id: str) -> WorkflowSpec:
    workflow = execution_id.split("-", 1)[0]
    if workflow not in WORKFLOWS or "-" not in execution_id:
        raise NotFound(f"execution {execution_id} not found")
    return WORKFLOWS[workflow]


def execution_arn(state_machine_arn: str, name: str) -> str:
    """``...:stateMachine:<name>[:<alias>]`` → ``...:execution:<name>:<execution name>``."""
    prefix, machine = state_machine_arn.split(":stateMachine:", 1)
    return f"{prefix}:execution:{machine.split(':', 1)[0]}:{name}"


def unqualified(state_machine_arn: str) -> str:
    """``...:stateMachine:<name>[:<alias or version>]`` → ``...:stateMachine:<name>``."""
    prefix, machine = state_machine_arn.split(":stateMachine:", 1)
    return f"{prefix}:stateMachine:{machine.split(':', 1)[0]}"


def _canonical(document: Any) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class ExecutionService:
    def __init__(
        self,
        sfn: Any,
        state_machines: dict[str, str],
        approvals: ApprovalStore,
        ledger: RunLedger | None = None,
    ) -> None:
        self._sfn = sfn
        self._machines = state_machines
        self._approvals = approvals
        self._ledger = ledger if ledger is not None else get_run_ledger()

    def _machine(self, workflow: str) -> str:
        if workflow not in WORKFLOWS or workflow not in self._machines:
            raise NotFound(f"unknown workflow {workflow}")
        return self._machines[workflow]

    def start(
        self, workflow: str, payload: Any, idempotency_key: str | None, caller: StartedBy | None = None
    ) -> Started:
        machine = self._machine(workflow)
        document = validate_input(WORKFLOWS[workflow], payload, requester=caller.owner if caller else None)
        if caller is not None:
            document[STARTED_BY_FIELD] = caller.model_dump(mode="json")
        name = execution_name(workflow, idempotency_key, caller.clientId if caller else "")
        try:
            arn: str = self._sfn.start_execution(
                stateMachineArn=machine, name=name, input=_canonical(document)
            )["executionArn"]
            created = True
        except ClientError as exc:
            if exc.response["Error"].get("Code") != "ExecutionAlreadyExists":
                raise
            arn = execution_arn(machine, name)
            existing = self._sfn.describe_execution(executionArn=arn)
            if _canonical(json.loads(existing.get("input") or "null")) != _canonical(document):
                raise IdempotencyConflict("Idempotency-Key was already used with a different body") from exc
            created = False
        return Started(executionId=name, executionArn=arn, statusUrl=f"/executions/{name}", created=created)

    def redrive(self, execution_id: str) -> Redriven:
        """``RedriveExecution``: the same run goes on from its unsuccessful state (AWS semantics)."""
        workflow = workflow_of(execution_id)
        arn = execution_arn(self._machine(workflow.name), execution_id)
        try:
            answer = self._sfn.redrive_execution(executionArn=arn)
        except ClientError as exc:
            code = exc.response["Error"].get("Code")
            if code in {"ExecutionDoesNotExist", "InvalidArn"}:
                raise NotFound(f"execution {execution_id} not found") from exc
            if code == "ExecutionNotRedrivable":
                raise NotRedrivable(exc.response["Error"].get("Message") or "not redrivable") from exc
            raise
        return Redriven(
            executionId=execution_id,
            executionArn=arn,
            redriveDate=answer["redriveDate"].isoformat(),
            statusUrl=f"/executions/{execution_id}",
        )

    def get(self, execution_id: str) -> dict[str, Any]:
        workflow = workflow_of(execution_id)
        arn = execution_arn(self._machine(workflow.name), execution_id)
        try:
            described = self._sfn.describe_execution(executionArn=arn)
        except ClientError as exc:
            if exc.response["Error"].get("Code") in {"ExecutionDoesNotExist", "InvalidArn"}:
                raise NotFound(f"execution {execution_id} not found") from exc
            raise
        document = json.loads(described["input"]) if described.get("input") else None
        steps = {state: (s.name, s.kind.value) for state, s in asl.state_steps(workflow).items()}
        timeline = build_timeline(self._history(arn), steps, described["status"])
        return {
            "executionId": execution_id,
            "executionArn": arn,
            "workflow": workflow.name,
            "status": described["status"],
            "startDate": _iso(described.get("startDate")),
            "stopDate": _iso(described.get("stopDate")),
            # The caller apart from the input it sent (the execution input carries both).
            "startedBy": document.get(STARTED_BY_FIELD) if isinstance(document, dict) else None,
            "input": {k: v for k, v in document.items() if k != STARTED_BY_FIELD}
            if isinstance(document, dict)
            else document,
            "output": json.loads(described["output"]) if described.get("output") else None,
            "error": described.get("error"),
            "cause": described.get("cause"),
            "redriveCount": int(described.get("redriveCount") or 0),
            "timeline": [row.model_dump(mode="json") for row in timeline],
            "approvals": [
                _approval_view(r.public_view()) for r in self._approvals.for_execution(execution_id)
            ],
            "cost": self._cost(execution_id),
        }

    def _cost(self, execution_id: str) -> dict[str, Any] | None:
        """What the run's LLM calls cost so far, in total and per step; ``None`` if the ledger is unreadable.

        The status of a run matters more than its bill: a ledger that cannot be read (throttled, or a
        deployment without the grant) must not turn the whole answer into a 500.
        """
        try:
            return self._ledger.run_cost(execution_id).to_api()
        except (ClientError, BotoCoreError) as exc:
            logger.warning(
                "run cost unavailable", execution_id=execution_id, error=error_code(exc) or type(exc).__name__
            )
            return None

    def _history(self, arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
        while True:
            page = self._sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            token = page.get("nextToken")
            if not token or len(events) >= 25_000:  # a Standard execution's event quota
                return events
            kwargs["nextToken"] = token

    def search(
        self, *, workflow: str | None, status: str | None, business_key: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """Most recent first. ``business_key`` reads the input of the latest MAX_SEARCH runs per workflow."""
        workflows = [WORKFLOWS[self._name_or_404(workflow)]] if workflow else list(WORKFLOWS.values())
        found: list[dict[str, Any]] = []
        for spec in workflows:
            if spec.name not in self._machines:
                continue
            kwargs: dict[str, Any] = {
                # The machine, not its ``live`` alias: an alias lists only the runs started through it
                # (not a console or redriven start), and the API role may list the machine only.
                "stateMachineArn": unqualified(self._machines[spec.name]),
                # With a business key: filter the latest MAX_SEARCH runs, then apply the limit.
                "maxResults": MAX_SEARCH if business_key is not None else min(limit, MAX_SEARCH),
            }
            if status:
                kwargs["statusFilter"] = status
            for item in self._sfn.list_executions(**kwargs)["executions"]:
                row = {
                    "executionId": item["name"],
                    "workflow": spec.name,
                    "status": item["status"],
                    "startDate": _iso(item.get("startDate")),
                    "stopDate": _iso(item.get("stopDate")),
                }
                if business_key is not None:
                    document = json.loads(
                        self._sfn.describe_execution(executionArn=item["executionArn"])["input"]
                    )
                    if str(document.get(spec.business_key)) != business_key:
                        continue
                    row["businessKey"] = business_key
                found.append(row)
        found.sort(key=lambda r: r["startDate"] or "", reverse=True)
        return found[:limit]

    def _name_or_404(self, workflow: str) -> str:
        self._machine(workflow)
        return workflow


def _approval_view(view: dict[str, Any]) -> dict[str, Any]:
    """What the machine API shows of an approval: status and people, never a link or token."""
    keep = (
        "approval_id",
        "state",
        "approver",
        "status",
        "created_at",
        "expires_at",
        "decided_by",
        "decided_at",
    )
    shown = {key: view.get(key) for key in keep}
    shown.update(
        comment=view.get("comment"), escalated_to=view.get("escalated_to"), edited=bool(view.get("edit_diff"))
    )
    return shown
