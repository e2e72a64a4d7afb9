"""The pieces of ``local/limits.py`` the scenarios rely on, one rule each."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest

from local import limits


def test_calls_made_in_parallel_threads_overlap_and_the_longest_counts() -> None:
    # Given a 30 s invocation that makes two 20 s calls in two threads (each in the invocation's context)
    with limits.invocation(30, "req-1") as clock:
        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(limits.simulate_latency, 20.0))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        # Then 20 s passed, not 40: the invocation has not timed out
        assert clock.simulated_seconds == 20.0
        assert not clock.timed_out()


def test_the_call_that_crosses_the_deadline_ends_the_invocation() -> None:
    with limits.invocation(30, "req-2"):
        limits.simulate_latency(20.0)
        with pytest.raises(limits.InvocationTimedOut) as raised:
            limits.simulate_latency(20.0)

    assert str(raised.value) == "RequestId: req-2 Error: Task timed out after 30.00 seconds"


def test_outside_an_invocation_simulated_latency_changes_nothing() -> None:
    limits.simulate_latency(10_000.0)
    assert limits.current_clock() is None


def test_the_payload_size_is_the_utf8_bytes_of_compact_json() -> None:
    assert limits.payload_bytes({"a": "é"}) == len('{"a":"é"}'.encode())
    assert limits.payload_bytes({"a": "é"}) == 10
    assert limits.within_payload_limit("x" * limits.PAYLOAD_LIMIT_BYTES)
    assert not limits.within_payload_limit("x" * (limits.PAYLOAD_LIMIT_BYTES + 1))


def test_states_all_matches_neither_data_limit_exceeded_nor_runtime() -> None:
    assert limits.states_all_matches("Sandbox.Timedout")
    assert limits.states_all_matches("States.Timeout")
    assert not limits.states_all_matches("States.DataLimitExceeded")
    assert not limits.states_all_matches("States.Runtime")


def test_real_time_counts_against_the_timeout_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a clock that started two seconds ago with a one-second timeout and no simulated latency
    started = time.monotonic() - 2.0

    # Then by default only simulated time counts (moto's emulated calls are not AWS's speed)
    monkeypatch.delenv(limits.REAL_TIME_ENV, raising=False)
    assert not limits.InvocationClock(1, "req-3", started=started).timed_out()

    # and with STEPWISE_REAL_TIME_COUNTS=1 the two real seconds time it out
    monkeypatch.setenv(limits.REAL_TIME_ENV, "1")
    assert limits.InvocationClock(1, "req-4", started=started).timed_out()
