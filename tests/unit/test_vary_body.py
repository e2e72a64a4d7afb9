"""The idempotent-start test's "another valid body" varies whatever field the example has."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import ValidationError

from functions.registry import ROOT, WORKFLOWS
from functions.shared.workflow_input import input_model
from tests.reliability.vary import another_valid_body


def anything(body: dict[str, Any]) -> bool:
    return True


def test_a_body_of_short_ids_gets_one_changed_and_the_validator_decides_which() -> None:
    # Given an input of an id and an email, where the email must stay an email
    body = {"lead_id": "L-100", "email": "ana@example.com"}

    def accepts(candidate: dict[str, Any]) -> bool:
        return re.fullmatch(r"[^@ ]+@[^@ ]+\.[a-z]+", candidate["email"]) is not None

    # When another valid body is asked for
    changed = another_valid_body("leads", body, accepts)

    # Then exactly one field changed, and the validator accepts the result
    assert accepts(changed)
    assert sum(changed[k] != body[k] for k in body) == 1


def test_a_boolean_or_a_nested_field_is_varied_when_nothing_else_is() -> None:
    assert another_valid_body("flags", {"dry_run": True}, anything) == {"dry_run": False}
    nested = {"window": {"days": 7}}
    assert another_valid_body("nested", nested, anything) == {"window": {"days": 8}}


def test_a_body_with_nothing_to_vary_fails_naming_the_workflow_and_what_it_tried() -> None:
    # Given a validator that refuses every change (a body of fixed values)
    with pytest.raises(
        AssertionError, match=r"^fixed: examples/fixed.json has no field .* \(tried: mode, mode\)"
    ):
        another_valid_body("fixed", {"mode": "x"}, lambda candidate: candidate == {"mode": "x"})
    # and an empty body says so rather than raising a bare StopIteration
    with pytest.raises(AssertionError, match="the body is empty"):
        another_valid_body("empty", {}, anything)


@pytest.mark.parametrize("workflow", sorted(WORKFLOWS))
def test_each_workflow_s_example_has_a_field_its_input_model_accepts_changed(workflow: str) -> None:
    model = input_model(WORKFLOWS[workflow])
    example = json.loads((ROOT / "examples" / f"{workflow}.json").read_text(encoding="utf-8"))

    def accepts(candidate: dict[str, Any]) -> bool:
        try:
            model.model_validate(candidate)
        except ValidationError:
            return False
        return True

    assert accepts(another_valid_body(workflow, example, accepts))
