"""``RedriveExecution`` for the local runtime: moto 5.2.5's Step Functions interpreter has none.

What it does, after AWS (https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html):

- only a STANDARD execution whose status is FAILED, TIMED_OUT or ABORTED, stopped less than 14
  days ago and with room left in its 25,000-event history, can be redriven; anything else (a
  SUCCEEDED or RUNNING run, an Express one) is ``ExecutionNotRedrivable`` (an unknown ARN is
  moto's ``ExecutionDoesNotExist``);
- the same execution (same ARN and name, so every ``$$.Execution.Name``-derived value is the
  same) continues from its *unsuccessful state*: the last top-level state that was entered and
  never exited, with the input that state was entered with, read from the history. Top-level
  states that succeeded before it are not run again. A run that failed before entering any state
  starts again at ``StartAt`` with the execution input;
- the history is kept and continued: an ``ExecutionRedriven`` event (``redriveCount``), then the
  redriven states' events, numbered after the old ones; ``DescribeExecution`` reports
  ``redriveCount``, ``redriveDate`` and ``redriveStatus`` (with ``redriveStatusReason``);
  ``$$.Execution.RedriveCount`` is set for the redriven states.

What it does not do (each is said in README.md, "Redriving a failed run"):

- inside a failed Map or Parallel state AWS re-runs only the failed iterations or branches; here
  the whole state runs again with its original input (the successful iterations' side effects
  are not repeated because irreversible steps are idempotent on business keys, but their Lambdas
  are invoked again and their events are added again);
- Distributed Map runs are not redriven on their own (``RedriveMapRun`` does not exist here);
- a failure a ``Catch`` routed to a ``Fail`` state is redriven from that ``Fail`` state, so it
  fails again at once (the compensation already ran): start a fresh run instead;
- no ``clientToken`` idempotency, no limit on the number of redrives, and the 14 days are
  measured from the stop date moto recorded.
"""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from moto.core.exceptions import AWSError
from moto.core.responses import ActionResult
from moto.stepfunctions.parser.api import ExecutionStatus, HistoryEventType, StateMachineType
from moto.stepfunctions.parser.asl.eval.evaluation_details import EvaluationDetails
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext, EventManager
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

REDRIVABLE_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
REDRIVE_WINDOW = datetime.timedelta(days=14)
#: A redrive adds at least one event; a history at the limit has no room for it.
HISTORY_EVENT_LIMIT = 25_000
RESPONSE_CLASS = ("moto.stepfunctions.responses", "StepFunctionResponse")

_LOCK = threading.Lock()


class ExecutionNotRedrivable(AWSError):
    TYPE = "ExecutionNotRedrivable"
    STATUS = 400


@dataclass(frozen=True)
class Restart:
    """Where a redrive continues: the unsuccessful state and the input it was entered with."""

    state: str
    state_input: Any


def not_redrivable_reason(execution: Any, now: datetime.datetime) -> str | None:
    """Why ``execution`` cannot be redriven now (AWS's wording), or None when it can."""
    if execution.sm_type != StateMachineType.STANDARD:
        return "Execution is of type EXPRESS and cannot be redriven."
    status = ExecutionStatus(execution.exec_status).value
    if status not in REDRIVABLE_STATUSES:
        return f"Execution is {status} and cannot be redriven."
    stopped = execution.stop_date
    if stopped is not None and now - stopped > REDRIVE_WINDOW:
        return "Execution redrivable period exceeded."
    if len(_events(execution)) >= HISTORY_EVENT_LIMIT:
        return "Execution history event limit exceeded."
    return None


def restart_point(definition: str, events: list[dict[str, Any]], execution_input: Any) -> Restart:
    """The last top-level state entered and never exited, with its input (else ``StartAt``).

    State names are unique in a whole state machine (ASL), so a top-level name in an event is the
    top-level state, never a state of the same name inside a Map or Parallel.
    """
    document = json.loads(definition)
    top_level = set(document["States"])
    open_state: Restart | None = None
    for event in events:
        entered = event.get("stateEnteredEventDetails")
        exited = event.get("stateExitedEventDetails")
        if entered and entered["name"] in top_level:
            open_state = Restart(entered["name"], json.loads(entered.get("input") or "{}"))
        elif exited and open_state is not None and exited["name"] == open_state.state:
            open_state = None
    if open_state is None:
        return Restart(document["StartAt"], execution_input)
    return open_state


def redrive(backend: Any, execution_arn: str) -> datetime.datetime:
    """Redrive the execution (see the module docstring); returns the redrive date."""
    execution = backend.describe_execution(execution_arn)  # ExecutionDoesNotExist if unknown
    now = datetime.datetime.now(tz=datetime.UTC)
    with _LOCK:  # two concurrent redrives of one run: the second finds it RUNNING
        reason = not_redrivable_reason(execution, now)
        if reason is not None:
            raise ExecutionNotRedrivable(reason)
        events = _events(execution)
        definition = execution.state_machine.definition
        restart = restart_point(definition, events, execution.input_data)
        count = redrive_count(execution) + 1
        execution.stepwise_redrive_count = count
        execution.stepwise_redrive_date = now
        execution.exec_status = ExecutionStatus.RUNNING
        execution.stop_date = None
        execution.output = None
        execution.error = None
        execution.cause = None
        execution.exec_worker = _redrive_worker(execution, restart, events, count, now)
        execution.exec_worker.start()
    return now


def redrive_count(execution: Any) -> int:
    return int(getattr(execution, "stepwise_redrive_count", 0))


def install() -> list[Callable[[], None]]:
    """Add ``RedriveExecution`` to moto's Step Functions API and the redrive fields to
    ``DescribeExecution``; returns the undo steps (``local/patches.py`` calls this)."""
    from local.patches import resolve

    response_cls = resolve(RESPONSE_CLASS)
    original_describe = response_cls.describe_execution
    # A runtime inside another one installs again: each undo puts back what it found.
    previous_redrive = response_cls.__dict__.get("redrive_execution")

    def redrive_execution(self_: Any) -> ActionResult:
        date = redrive(self_.stepfunction_backend, self_._get_param("executionArn"))
        return ActionResult({"redriveDate": date})

    def describe_execution(self_: Any) -> ActionResult:
        described = cast(dict[str, Any], cast(ActionResult, original_describe(self_)).result)
        execution = self_.stepfunction_backend.describe_execution(self_._get_param("executionArn"))
        return ActionResult({**described, **redrive_fields(execution)})

    response_cls.redrive_execution = redrive_execution
    response_cls.describe_execution = describe_execution

    def undo_redrive() -> None:
        if previous_redrive is None:
            delattr(response_cls, "redrive_execution")
        else:
            response_cls.redrive_execution = previous_redrive

    return [undo_redrive, lambda: setattr(response_cls, "describe_execution", original_describe)]


def redrive_fields(execution: Any) -> dict[str, Any]:
    """``redriveCount``/``redriveDate``/``redriveStatus``(``Reason``) as DescribeExecution has them."""
    fields: dict[str, Any] = {"redriveCount": redrive_count(execution)}
    date = getattr(execution, "stepwise_redrive_date", None)
    if date is not None:
        fields["redriveDate"] = date
    reason = not_redrivable_reason(execution, datetime.datetime.now(tz=datetime.UTC))
    fields["redriveStatus"] = "REDRIVABLE" if reason is None else "NOT_REDRIVABLE"
    if reason is not None:
        fields["redriveStatusReason"] = reason
    return fields


def _events(execution: Any) -> list[dict[str, Any]]:
    worker = execution.exec_worker
    if worker is None or worker.env is None:
        return []
    events: list[dict[str, Any]] = worker.env.event_manager.get_event_history()
    return events


class _RedrivenEvents(EventManager):
    """The old history, continued: the new attempt's ``ExecutionStarted`` becomes ``ExecutionRedriven``."""

    def __init__(self, previous: list[dict[str, Any]], count: int, session: Any) -> None:
        super().__init__(cloud_watch_logging_session=session)
        self._history_event_list.extend(cast(Any, previous))
        self._event_id_gen._next_id = max((int(e["id"]) for e in previous), default=0) + 1
        self._count = count
        self._redriven = False

    def add_event(
        self,
        context: EventHistoryContext,
        event_type: HistoryEventType,
        event_details: EventDetails | None = None,
        timestamp: Any = None,
        update_source_event_id: bool = True,
    ) -> int:
        if event_type == HistoryEventType.ExecutionStarted and not self._redriven:
            self._redriven = True
            event_type = HistoryEventType.ExecutionRedriven
            redriven = {"executionRedrivenEventDetails": {"redriveCount": self._count}}
            event_details = cast(EventDetails, redriven)
        return super().add_event(context, event_type, event_details, timestamp, update_source_event_id)


class _RedriveWorker(ExecutionWorker):
    """moto's worker, with the environment of a redrive: the restart state's input, the old history."""

    restart: Restart
    previous: list[dict[str, Any]]
    count: int
    date: datetime.datetime

    def _get_evaluation_environment(self) -> Any:
        env = super()._get_evaluation_environment()
        execution = cast(dict[str, Any], env.states.context_object.context_object_data["Execution"])
        execution["RedriveCount"] = self.count
        execution["RedriveTime"] = self.date.isoformat()
        env.states.reset(self.restart.state_input)
        env.event_manager = _RedrivenEvents(self.previous, self.count, env.cloud_watch_logging_session)
        last_event_id = max((int(e["id"]) for e in self.previous), default=0)
        env.event_history_context.source_event_id = last_event_id
        env.event_history_context.last_published_event_id = last_event_id
        return env


def _redrive_worker(
    execution: Any, restart: Restart, events: list[dict[str, Any]], count: int, now: datetime.datetime
) -> ExecutionWorker:
    """A worker for this execution that starts at ``restart`` and continues its history."""
    document = json.loads(execution.state_machine.definition)
    document["StartAt"] = restart.state
    machine = execution.get_start_state_machine_details()
    # The program is parsed from the definition the details name: the same states, entered at
    # the unsuccessful one.
    machine.definition = json.dumps(document)
    worker = _RedriveWorker(
        evaluation_details=EvaluationDetails(
            aws_execution_details=execution._get_start_aws_execution_details(),
            execution_details=execution.get_start_execution_details(),
            state_machine_details=machine,
        ),
        exec_comm=execution._get_start_execution_worker_comm(),
        cloud_watch_logging_session=execution._cloud_watch_logging_session,
        activity_store=execution._activity_store,
    )
    worker.restart, worker.previous, worker.count, worker.date = restart, events, count, now
    return worker
