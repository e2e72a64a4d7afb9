"""Another valid start request: the same workflow input with one field changed.

The idempotent-start test sends it under a key already used, to see the conflict refused. Any
field will do as long as the workflow still accepts the body (else the answer would be a
validation error, not the conflict), so every field is tried, preferred ones first:

1. the longest free text over 40 characters, extended;
2. a float, halved; a whole number, plus one;
3. any other text, extended or with its last character changed; a boolean, flipped; a list of
   several items, shortened; the same, one level down in nested objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

SUFFIX = " (changed)"


def another_valid_body(
    workflow: str, body: dict[str, Any], accepts: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """``body`` with one field changed such that ``accepts`` still says yes, or a clear failure."""
    tried: list[str] = []
    for path, candidate in _candidates(body):
        tried.append(path)
        if candidate != body and accepts(candidate):
            return candidate
    raise AssertionError(
        f"{workflow}: examples/{workflow}.json has no field the idempotent-start test can change and "
        f"still pass the input model (tried: {', '.join(tried) or 'nothing: the body is empty'}). "
        "Give the example a free-text field, a number or a boolean the model accepts changed."
    )


def _candidates(body: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for key, changed in _changes(body):
        yield prefix + key, {**body, key: changed}
    for key, value in body.items():
        if isinstance(value, dict):
            for path, inner in _candidates(value, f"{prefix}{key}."):
                yield path, {**body, key: inner}


def _changes(body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(field, changed value) of this level's fields, preferred first (see the module's docstring)."""
    texts = sorted((k for k, v in body.items() if isinstance(v, str)), key=lambda k: -len(body[k]))
    yield from ((k, body[k] + SUFFIX) for k in texts if len(body[k]) > 40)
    yield from ((k, round(v / 2, 3)) for k, v in body.items() if isinstance(v, float))
    yield from ((k, v + 1) for k, v in body.items() if isinstance(v, int) and not isinstance(v, bool))
    yield from ((k, body[k] + SUFFIX) for k in texts if len(body[k]) <= 40)
    yield from ((k, body[k][:-1] + ("2" if body[k].endswith("1") else "1")) for k in texts if body[k])
    yield from ((k, not v) for k, v in body.items() if isinstance(v, bool))
    yield from ((k, v[:-1]) for k, v in body.items() if isinstance(v, list) and len(v) > 1)
