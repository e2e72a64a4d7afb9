"""What moto 5.2.5's ASL parser cannot read, rewritten to what it can, in one place.

- ``ProcessorConfig.ExecutionType: "EXPRESS"`` (a Distributed Map's Express children): moto's
  grammar only knows ``"STANDARD"``. Locally the children run in-process either way (moto keeps
  their events out of the parent history for both types, and enforces neither type's limits), so
  the definition is created with ``"STANDARD"`` children. Nothing else changes; the file in
  ``statemachines/`` and the template keep ``"EXPRESS"``, which is what AWS runs.
"""

from __future__ import annotations

import json
from typing import Any


def for_moto(definition: str) -> str:
    """``definition`` (ASL JSON) as moto can parse it; unchanged when nothing needs rewriting."""
    if '"EXPRESS"' not in definition:
        return definition
    parsed = json.loads(definition)
    _rewrite(parsed)
    return json.dumps(parsed)


def _rewrite(node: Any) -> None:
    if isinstance(node, dict):
        config = node.get("ProcessorConfig")
        if isinstance(config, dict) and config.get("ExecutionType") == "EXPRESS":
            config["ExecutionType"] = "STANDARD"
        for value in node.values():
            _rewrite(value)
    elif isinstance(node, list):
        for value in node:
            _rewrite(value)
