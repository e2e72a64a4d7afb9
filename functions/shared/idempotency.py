"""Run an irreversible side effect at most once per (step, business key).

Lambda runs each Step Functions task *at least once*, so a retried invocation may follow one that
already sent the email. Powertools idempotency on DynamoDB stores the first result and returns it
to every replay. Choices (see ``../shared/reliability-notes.md``):

- the key is ``[step, action key]`` only (``business_keys``): never the attempt, the task token, a
  timestamp or LLM text, which change between retries, and never the execution name alone, which
  changes between reruns of the same business action;
- ``payload_validation_jmespath`` pins the fields that must not change between replays (the
  recipient, the body hash): a replay with other values fails loudly instead of returning a
  result that belongs to different data;
- the record outlives the whole retry window and the 14 days a failed run may be redriven
  (``idempotency_ttl_seconds``, default 15 days);
- the in-progress expiry follows the Lambda's remaining time (``register_lambda_context``);
- the persistence layer is built on first use, never at import time, once per step (its
  ``key_prefix``) and client: concurrent steps in one process never share its one per-call
  attribute (the prefix), and building one registers a User-Agent hook on the client (Powertools'
  ``register_feature_to_client``), so a layer per call gave every later request of a warm Lambda
  one more hook to run and one more ``PT/idempotency`` in its User-Agent, without end.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from functions.shared.aws import client
from functions.shared.business_keys import ActionKey
from functions.shared.config import settings

ResultT = TypeVar("ResultT", bound=BaseModel)

#: Set by ``step_handler`` for the duration of an invocation.
current_lambda_context: ContextVar[LambdaContext | None] = ContextVar("current_lambda_context", default=None)


def run_once(
    *,
    workflow: str,
    step: str,
    key: ActionKey,
    pinned: Mapping[str, Any],
    result_model: type[ResultT],
    effect: Callable[[], ResultT],
) -> ResultT:
    """Call ``effect`` once for this key; replays get the stored result without calling it.

    ``pinned`` holds the values that must be the same on every replay (JSON-safe).
    """
    config = _config(settings().idempotency_ttl_seconds)
    lambda_context = current_lambda_context.get()
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)
    key_prefix = f"{workflow}.{step}"
    persistence = _persistence_layer(
        settings().idempotency_table, key_prefix, config.expires_after_seconds, client("dynamodb")
    )

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="request",
        persistence_store=persistence,
        config=config,
        key_prefix=key_prefix,
    )
    def _effect(request: dict[str, Any]) -> dict[str, Any]:
        return effect().model_dump(mode="json")

    stored = _effect(request={"step": step, "key": key.value, "pinned": dict(pinned)})
    return result_model.model_validate(stored)


def _config(expires_after_seconds: int) -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="[step, key]",
        payload_validation_jmespath="pinned",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=expires_after_seconds,
        hash_function="sha256",
    )


@functools.lru_cache(maxsize=256)
def _persistence_layer(
    table: str, key_prefix: str, expires_after_seconds: int, dynamodb: Any
) -> DynamoDBPersistenceLayer:
    """The step's persistence layer, configured before anyone gets it.

    Powertools configures a layer from the first call's config only, and marks it configured
    before it sets the fields: a second thread's first call could otherwise use a half-configured
    layer (md5 keys, no pinned-field validation). Every field of that config is the same on every
    call; the in-progress expiry comes from each call's own config (its Lambda context).
    """
    layer = DynamoDBPersistenceLayer(table_name=table, boto3_client=dynamodb)
    layer.configure(_config(expires_after_seconds), key_prefix=key_prefix)
    return layer
