"""Importing a step's handler module never loads the anthropic SDK (or its HTTP stack).

``anthropic`` costs about 0.9 s of cold start. A step without ``Resource.LLM`` does not ship the
llm layer at all, so importing it there would also crash; an LLM step loads the SDK when it builds
its client, on the first call. Imports run in fresh, Lambda-like interpreters with
``-X importtime`` (in this process an earlier test has long imported the SDK): one per workflow
and kind of step, importing its step modules one after the other and naming the first that loads
an LLM package. No time is asserted.
"""

from __future__ import annotations

import pytest

from bench.cold_start import LLM_ONLY_PACKAGES, llm_packages_by_module
from functions.registry import WORKFLOWS


def step_modules(workflow: str, *, uses_llm: bool) -> list[str]:
    return [step.module for step in WORKFLOWS[workflow].steps if step.uses_llm is uses_llm]


@pytest.mark.parametrize("workflow", sorted(WORKFLOWS))
def test_a_step_without_the_llm_never_imports_anthropic(workflow: str) -> None:
    # Given the steps whose registry entry does not name Resource.LLM
    modules = step_modules(workflow, uses_llm=False)

    # When each handler module is imported in a fresh interpreter
    found = llm_packages_by_module(modules)

    # Then none of them loaded anthropic or an httpx stack
    assert sorted(found) == sorted(modules)
    assert {module: packages for module, packages in found.items() if packages} == {}


@pytest.mark.parametrize("workflow", sorted(WORKFLOWS))
def test_an_llm_step_imports_anthropic_only_when_it_builds_its_client(workflow: str) -> None:
    # Given the steps that call Claude, when only their handler modules are imported
    modules = step_modules(workflow, uses_llm=True)
    found = llm_packages_by_module(modules)

    # Then the SDK is not loaded yet (the client factory loads it on the first call)
    assert modules
    assert {module: packages for module, packages in found.items() if packages} == {}


def test_the_check_names_the_module_that_does_import_anthropic() -> None:
    # Given a clean step module, then one that loads the SDK, then another clean one
    modules = ["functions.sales_outreach.validate_lead", "anthropic", "functions.sales_outreach.log_activity"]

    # When they are checked the same way
    found = llm_packages_by_module(modules)

    # Then the check names exactly the one that loaded it, so the assertions above can fail
    assert found["functions.sales_outreach.validate_lead"] == []
    assert "anthropic" in found["anthropic"]
    assert set(found["anthropic"]) <= LLM_ONLY_PACKAGES
