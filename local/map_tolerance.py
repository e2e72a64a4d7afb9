"""A Distributed Map fails when its failed children pass the tolerated threshold, as on AWS.

moto 5.2.5 counts a failed child (``item_counter.failed``) and goes on: the Map state succeeds
with that item's result missing, so locally a batch that timed out looked done and the run failed
later, at whichever state first read the missing file, with the wrong name. On AWS the Map Run
fails with ``States.ExceedToleratedFailureThreshold`` (catchable, ``States.ALL`` matches it), and
the Map state's ``Catch`` or the run's failure names the Map state.

The threshold: ``ToleratedFailureCount`` and ``ToleratedFailurePercentage`` (both 0 by default,
so one failed child fails the Map). moto materialises the defaults, so "was it given" is not
known here: the run fails when failures pass *both* numbers, which is AWS's rule whenever only
one of them is set (the usual case, and the only one in this project: none sets either); with
both set, AWS fails when *either* is passed, which this reads more leniently.
https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

_ASL = "moto.stepfunctions.parser.asl."
DISTRIBUTED_ITERATION = (
    _ASL + "component.state.exec.state_map.iteration.distributed_iteration_component",
    "DistributedIterationComponent",
)
THRESHOLD_ERROR = "States.ExceedToleratedFailureThreshold"
THRESHOLD_CAUSE = "The specified tolerated failure threshold was exceeded"


def past_threshold(failed: int, total: int, count: int, percentage: float) -> bool:
    """Whether ``failed`` of ``total`` children pass both tolerated numbers (see the module docstring)."""
    if failed == 0:
        return False
    share = 100.0 * failed / total if total else 100.0
    return failed > count and share > percentage


def install() -> list[Callable[[], None]]:
    """Wrap moto's ``DistributedIterationComponent._map_run``; returns the undo."""
    module = importlib.import_module(DISTRIBUTED_ITERATION[0])
    component_cls = getattr(module, DISTRIBUTED_ITERATION[1])
    original = component_cls._map_run

    def map_run(self_: Any, env: Any, eval_input: Any) -> None:
        original(self_, env, eval_input)
        counter = eval_input.map_run_record.item_counter
        failed = counter.failed.get() + counter.timed_out.get()
        if past_threshold(
            failed,
            counter.total.get(),
            int(eval_input.tolerated_failure_count or 0),
            float(eval_input.tolerated_failure_percentage or 0.0),
        ):
            raise _threshold_failure(env, failed, counter.total.get())

    component_cls._map_run = map_run
    return [lambda: setattr(component_cls, "_map_run", original)]


def _threshold_failure(env: Any, failed: int, total: int) -> Exception:
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )

    cause = f"{THRESHOLD_CAUSE} ({failed} of {total} child executions failed)"
    # moto's EventDetails is a total TypedDict over every event kind; one kind is what it holds
    failure = ExecutionFailedEventDetails(error=THRESHOLD_ERROR, cause=cause)
    details: Any = {"executionFailedEventDetails": failure}
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold),
            event_type=HistoryEventType.ExecutionFailed,
            event_details=details,
        )
    )
