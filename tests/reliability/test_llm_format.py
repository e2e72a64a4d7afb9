"""An LLM answer that fails validation is re-prompted inside the step, in every workflow.

The model's first answer in the run is prose instead of the forced tool call. The Claude client
must send the validation problem back to the model (same step attempt, Step Functions does not
retry it) and use the second, valid answer; the run then ends exactly like the main scenario.
"""

from __future__ import annotations

import pytest

from functions.registry import WORKFLOWS
from functions.shared.llm.offline import Malformed, offline_model
from local.runtime import LocalRuntime
from tests.reliability.scenarios import drive, main

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("workflow", sorted(WORKFLOWS))
def test_the_first_malformed_answer_is_reprompted_and_the_run_ends_as_designed(workflow: str) -> None:
    # Given the model's first answer in the run ignores the schema
    offline_model().script(None, Malformed("Sure! I think this one looks great, go ahead."))

    # When the main scenario runs
    with LocalRuntime() as runtime:
        result = drive(runtime, main(workflow))

    # Then the same tool was asked again with the conversation extended by the validation error
    # (the re-prompt is the request that continues the first one's conversation: a step that reads
    # several items on a thread pool, no_show's ScoreBatch, interleaves other items' requests)
    requests = offline_model().requests
    first = requests[0]
    second = next(r for r in requests[1:] if r["messages"][: len(first["messages"])] == first["messages"])
    assert first["tool_choice"] == second["tool_choice"]
    assert len(second["messages"]) > len(first["messages"])
    assert offline_model().pending() == 0
    # inside one step attempt (the client re-prompts; Step Functions did not retry)
    llm_steps = {s.name for s in WORKFLOWS[workflow].steps if s.uses_llm}
    first_llm_row = next((row for row in result.timeline if row.step in llm_steps), None)
    if first_llm_row is not None:
        assert (first_llm_row.status, first_llm_row.attempts) == ("SUCCEEDED", 1)
    else:  # the step runs as a Distributed Map's child: no parent timeline row, its invocations say it
        calls = [i for i in runtime.dispatcher.invocations if i.step in llm_steps]
        assert calls
        assert all((i.attempt, i.error) == (0, None) for i in calls), calls
    # and the run ended as designed
    assert result.status == "SUCCEEDED", (result.error, result.cause)
