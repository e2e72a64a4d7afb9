"""DraftBatch (pure + LLM draft): a re-engagement email for each client of one batch file.

One Claude call per client (the referral flow's ``referral_reengagement_email`` task and playbook:
one prompt, one cached prefix), ``PARALLEL_CALLS`` at a time. The drafts go to
``<prefix>drafts/<n>.json``; the Map iteration returns three counts.

Timeout arithmetic (registry ``timeout_seconds`` = 120): a batch is ``BATCH_SIZE`` = 25 clients;
the first is drafted alone (it writes the prompt cache the others read), the other 24
``PARALLEL_CALLS`` = 5 at a time: 1 + 5 = 6 rounds. At ~3 s a call that is ~18 s; at a slow 10 s
a call, 60 s: the 120 s timeout is twice the slow case (``tests/workflows/test_reengagement_sweep.py``
checks it against the registry). The Map runs ``MaxConcurrency`` = 4 batches at once, so at most
4 x 5 = 20 Claude calls are in flight: keep that under the account's Anthropic concurrency / rate
limit (raise both together, not one). A sweep of 5,000 clients is 200 batches, 50 rounds of 4:
~50 x 18 s = 15 min of drafting.

Failures are per client. A refusal, an invalid answer after the client's re-prompts, or a request
the API refuses is recorded in the drafts file with the error name, and the client is skipped (the
digest lists it as not drafted): one client never fails the sweep. Rate limits and overload
(429/529) are the API's, not the client's: on the first attempts the batch raises the error so
Step Functions retries it after its backoff, and the drafts already made are kept in the drafts
file and not paid for again; from attempt ``GIVE_UP_ATTEMPT`` on, such a client is recorded as
failed too, so a sustained overload delays the sweep but does not fail it.
"""

from __future__ import annotations

import contextvars
import json
from concurrent.futures import ThreadPoolExecutor

from functions.reengagement_sweep.find_dormant_clients import batch_key
from functions.reengagement_sweep.models import BatchDrafted, BatchRef, DraftedClient, SweepClient
from functions.reengagement_sweep.prompts import PLAYBOOK
from functions.referral.models import ReengagementDraft
from functions.shared.adapters import get_files
from functions.shared.errors import (
    LLMFormatError,
    LLMOverloadedError,
    LLMRateLimitError,
    LLMRefusalError,
    LLMRequestError,
)
from functions.shared.llm import LLMCallContext, LLMClient, get_llm_client
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler

PARALLEL_CALLS = 5
#: From this attempt (Step Functions' retry count) on, a rate-limited client is skipped, not retried.
GIVE_UP_ATTEMPT = 2
#: The model's failures that say something about this client's prompt: record, skip, go on.
CLIENT_ERRORS = (LLMRefusalError, LLMFormatError, LLMRequestError)
API_BUSY = (LLMRateLimitError, LLMOverloadedError)


def _draft_one(client: SweepClient, *, llm: LLMClient, ctx: StepContext, batch: int) -> DraftedClient:
    facts = {
        "client": {
            "name": client.name,
            "first_name": client.first_name,
            "title": client.title,
            "company": client.company,
        },
        "days_inactive": client.days_inactive,
        "dormant_reason": client.reason,
        "sender_name": "The Stepwise team",
    }
    try:
        result = llm.structured(
            operation="draft",
            playbook=PLAYBOOK,
            prompt=f"Write the re-engagement email.\n<input>{json.dumps(facts, sort_keys=True)}</input>",
            output_model=ReengagementDraft,
            tool_name="referral_reengagement_email",
            context=LLMCallContext(
                trace_id=ctx.trace_id,
                step=ctx.step,
                attempt=ctx.attempt,
                workflow=ctx.workflow,  # worker threads do not see the step's context variable
                item=f"{batch:05d}-{client.contact_id}",
            ),
        )
    except CLIENT_ERRORS as exc:
        return DraftedClient(client=client, error=type(exc).__name__)
    except API_BUSY as exc:
        if ctx.attempt >= GIVE_UP_ATTEMPT:
            return DraftedClient(client=client, error=type(exc).__name__)
        raise
    body = result.value.body
    return DraftedClient(
        client=client, subject=result.value.subject, body=body, body_sha256=sha256_text(body)
    )


def draft_batch(payload: BatchRef, *, files: FileStore, llm: LLMClient, ctx: StepContext) -> BatchDrafted:
    clients = [
        SweepClient.model_validate(c)
        for c in files.get_json(batch_key(payload.prefix, "clients", payload.batch))
    ]
    drafts_key = batch_key(payload.prefix, "drafts", payload.batch)
    # A retry after a rate limit keeps what the earlier attempt drafted (those calls were paid).
    done: dict[str, DraftedClient] = {}
    if ctx.attempt > 0 and files.exists(drafts_key):
        for line in files.get_json(drafts_key):
            drafted = DraftedClient.model_validate(line)
            if drafted.body is not None or drafted.error is not None:
                done[drafted.client.contact_id] = drafted
    todo = [c for c in clients if c.contact_id not in done]
    busy: BaseException | None = None
    # The first call alone: it writes the playbook to the prompt cache, which the parallel calls
    # then read (started together, they would all miss it and each pay the cache write).
    for client in todo[:1]:
        try:
            done[client.contact_id] = _draft_one(client, llm=llm, ctx=ctx, batch=payload.batch)
        except API_BUSY as exc:
            busy = exc
    batch = payload.batch
    with ThreadPoolExecutor(max_workers=PARALLEL_CALLS) as pool:
        # Each call runs in a copy of this thread's context (a pool does not inherit context
        # variables): the LLM client charges the run ledger of the step it finds there.
        futures = [
            (c, pool.submit(contextvars.copy_context().run, _draft_one, c, llm=llm, ctx=ctx, batch=batch))
            for c in todo[1:]
        ]
        for client, future in futures:
            try:
                done[client.contact_id] = future.result()
            except API_BUSY as exc:
                busy = busy or exc
    lines = [done[c.contact_id] for c in clients if c.contact_id in done]
    files.put_json(drafts_key, [line.model_dump(mode="json") for line in lines])
    if busy is not None:
        raise busy  # Step Functions retries the batch after its backoff; the drafts above are kept
    return BatchDrafted(
        batch=payload.batch,
        drafted=sum(1 for line in lines if line.body is not None),
        failed=sum(1 for line in lines if line.error is not None),
    )


@step_handler(BatchRef)
def handler(payload: BatchRef, ctx: StepContext) -> BatchDrafted:
    return draft_batch(payload, files=get_files(), llm=get_llm_client(), ctx=ctx)
