"""The local runtime freezes long-lived objects so full garbage collections stay cheap."""

from __future__ import annotations

import gc
import sys
import types
import weakref

import pytest

from local import heap


def test_the_first_call_freezes_then_only_a_burst_of_new_modules_freezes_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a process where nothing was frozen yet
    monkeypatch.setattr(heap, "_modules_at_last_freeze", [0])
    # When the first runtime starts, what is loaded is frozen
    assert heap.freeze_long_lived_objects() is True
    frozen = gc.get_freeze_count()
    assert frozen > 0
    # And a second runtime with nothing new loaded does not collect or freeze again
    assert heap.freeze_long_lived_objects() is False
    # But after a burst of imports (an SDK loaded by the first LLM call) it does
    for index in range(heap.REFREEZE_AFTER_MODULES):
        monkeypatch.setitem(sys.modules, f"stepwise_probe_module_{index}", types.ModuleType("probe"))
    assert heap.freeze_long_lived_objects() is True
    assert gc.get_freeze_count() >= frozen


def test_garbage_made_after_a_freeze_is_still_collected() -> None:
    class Node:
        partner: object

    heap.freeze_long_lived_objects()
    first, second = Node(), Node()
    first.partner, second.partner = second, first  # a cycle only the collector can free
    probe = weakref.ref(first)
    del first, second
    gc.collect()
    assert probe() is None
