"""An irreversible step's effect runs once per key, in a warm process as in a fresh one."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from functions.shared.aws import client
from functions.shared.business_keys import business_action, run_fact
from functions.shared.idempotency import run_once
from local.runtime import LocalRuntime


class Sent(BaseModel):
    message_id: str


def _send(step: str, effects: list[str], *, business_key: str = "lead-1") -> Sent:
    def effect() -> Sent:
        effects.append(step)
        return Sent(message_id=f"{step}-{len(effects)}")

    return run_once(
        workflow="sales_outreach",
        step=step,
        key=business_action("outreach_email", business_key, "spring"),
        pinned={"to": "ada@example.com"},
        result_model=Sent,
        effect=effect,
    )


def test_a_replayed_step_gets_its_own_stored_result_and_a_second_step_with_the_same_key_runs() -> None:
    with LocalRuntime():
        effects: list[str] = []
        first = _send("send_email", effects)
        assert _send("send_email", effects) == first  # a Lambda retry: nothing sent twice
        other = _send("log_activity", effects)  # same business key, another step
        assert effects == ["send_email", "log_activity"]
        assert other.message_id == "log_activity-2"
        assert _send("log_activity", effects) == other


def test_a_warm_process_sends_the_same_user_agent_on_its_hundredth_effect_as_on_its_first() -> None:
    """Building a persistence layer per call added a Powertools hook to the shared client each
    time: every later request ran all of them and carried one more ``PT/idempotency``."""
    with LocalRuntime():
        dynamodb = client("dynamodb")
        agents: list[str] = []

        def record(request: Any, **_: Any) -> None:
            agent = request.headers["User-Agent"]
            agents.append(agent.decode() if isinstance(agent, bytes) else agent)

        dynamodb.meta.events.register("before-send.dynamodb", record)
        hooks_before = len(
            list(dynamodb.meta.events._emitter._handlers.prefix_search("request-created.dynamodb"))
        )
        effects: list[str] = []
        for index in range(100):
            _send("send_email", effects, business_key=f"lead-{index}")
        hooks_after = len(
            list(dynamodb.meta.events._emitter._handlers.prefix_search("request-created.dynamodb"))
        )

    assert len(effects) == 100
    assert hooks_after <= hooks_before + 1  # the step's layer, built once
    assert len(set(agents)) == 1
    assert agents[-1].count("PT/idempotency") == 1


def test_the_layer_a_step_is_handed_is_already_configured_for_sha256_keys_and_pinned_fields() -> None:
    """Powertools marks a layer configured before it sets the fields: a second thread's first
    call must never get one halfway (md5 keys over the whole request, nothing pinned)."""
    import hashlib

    from functions.shared.idempotency import _persistence_layer

    with LocalRuntime():
        layer = _persistence_layer(
            "stepwise-idempotency", "sales_outreach.send_email", 3600, client("dynamodb")
        )
        assert layer.configured
        assert layer.hash_function is hashlib.sha256
        assert layer.payload_validation_enabled
        assert layer.event_key_jmespath == "[step, key]"
        assert layer.expires_after_seconds == 3600


def test_keys_name_the_business_action_and_only_run_facts_carry_the_execution() -> None:
    # Given the same lead and campaign, and the same lead in another campaign
    same = business_action("outreach_email", "lead-1", "spring")
    # Then the action's key is the same in any run, another campaign is another action,
    assert same == business_action("outreach_email", "lead-1", "spring")
    assert same != business_action("outreach_email", "lead-1", "autumn")
    # parts cannot run into each other, and a run's own fact differs from run to run
    assert business_action("k", "a|b", "c") != business_action("k", "a", "b|c")
    assert run_fact("run-1", "RecordFailure", "lead-1") != run_fact("run-2", "RecordFailure", "lead-1")
