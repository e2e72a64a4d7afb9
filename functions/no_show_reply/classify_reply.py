"""ClassifyReply (pure + LLM classify): the client's own words → confirm, cancel or reschedule.

Runs only when the reply arrived without a kind (an inbound email rather than a confirmation
link), and only after ValidateReply vouched for the sender and the appointment, so no stranger's
text reaches the model. Claude reads the message as data; code decides: an ``unclear`` reading or
one below ``MIN_CONFIDENCE`` is a ``BusinessRuleError``, and the ASL sends it (like any LLM
failure past its retries) to LogNeedsHuman with nothing changed. A vague message can never move an
appointment on its own; whether a manipulative one is read as ``unclear`` rests on the prompt, and
the worst it can do is pick one of the three moves the contact could have asked for anyway.
"""

from __future__ import annotations

import json

from functions.no_show.prompts import PLAYBOOK
from functions.no_show_reply.models import ReplyClassification, ReplyIntent, ReplyState
from functions.no_show_reply.prompts import MIN_CONFIDENCE
from functions.shared.errors import BusinessRuleError, InvalidInputError
from functions.shared.llm import LLMCallContext, LLMClient, get_llm_client
from functions.shared.step_handler import StepContext, step_handler


def classify_reply(request: ReplyState, *, llm: LLMClient, ctx: StepContext) -> ReplyClassification:
    if request.message is None:  # the input model requires reply or message; this is the no-reply case
        raise InvalidInputError(f"reply to event {request.event_id} has neither a kind nor a message")
    result = llm.structured(
        operation="classify",
        playbook=PLAYBOOK,
        prompt="Classify this reply.\n<input>"
        + json.dumps({"event_id": request.event_id, "message": request.message}, sort_keys=True)
        + "</input>",
        output_model=ReplyIntent,
        tool_name="no_show_classify_reply",
        context=LLMCallContext(trace_id=ctx.trace_id, step=ctx.step, attempt=ctx.attempt),
    )
    reading = result.value
    if reading.intent == "unclear" or reading.confidence < MIN_CONFIDENCE:
        raise BusinessRuleError(
            f"reply to event {request.event_id} needs a human: read as {reading.intent!r} "
            f"(confidence {reading.confidence:.2f}): {reading.reason}"
        )
    return ReplyClassification(intent=reading.intent, confidence=reading.confidence, reason=reading.reason)


@step_handler(ReplyState)
def handler(request: ReplyState, ctx: StepContext) -> ReplyClassification:
    return classify_reply(request, llm=get_llm_client(), ctx=ctx)
