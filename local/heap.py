"""Keep the garbage collector's full passes cheap in a process that runs many local runtimes.

A warm harness process holds ~480,000 long-lived objects (moto's, botocore's and the SDKs'
modules and caches). Each full collection walked all of them: 250-270 ms, roughly once every
ten executions, wherever it happened to strike (a step, a transaction, a wait). ``gc.freeze``
moves the objects that exist now into a generation the collector never walks; they are still
freed by reference counting, only cyclic garbage among them would stay. So the freeze happens
after a full collection, and again only when many modules were loaded since the last one (the
first runtime, then the first LLM call's SDK import): a handful of times per process.
Measured on the 7-step flow over 40 runtimes: full collection 270 ms → 4 ms, slowest execution
485 ms → 131 ms, same peak RSS.
"""

from __future__ import annotations

import gc
import sys
import threading

#: This many newly loaded modules since the last freeze make another one worth a full collection.
REFREEZE_AFTER_MODULES = 50

_lock = threading.Lock()
#: How many modules were loaded at the last freeze (a list: one mutable cell for the process).
_modules_at_last_freeze = [0]


def freeze_long_lived_objects() -> bool:
    """Collect, then freeze what survives, when enough was loaded since last time; True if it did."""
    with _lock:
        if len(sys.modules) - _modules_at_last_freeze[0] < REFREEZE_AFTER_MODULES:
            return False
        gc.collect()
        gc.freeze()
        _modules_at_last_freeze[0] = len(sys.modules)
        return True
