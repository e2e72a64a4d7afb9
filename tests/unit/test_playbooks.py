"""Every workflow's playbook is one prompt prefix that the default model caches (or says why not)."""

from __future__ import annotations

import importlib

import pytest
from pydantic import BaseModel

from functions.registry import WORKFLOWS
from functions.shared.llm.offline import min_cacheable_tokens, prefix_tokens
from functions.shared.llm.playbook import LLMTask, Playbook
from functions.shared.llm.settings import LLMSettings

#: Workflows whose LLM steps use another workflow's playbook instead of one of their own, and why.
#: no_show_reply's ClassifyReply is a task of no_show's playbook: the replies arrive minutes after a
#: batch of confirmation requests and read the prefix the batch's scoring wrote to the cache.
#: (reengagement_sweep re-exports referral's PLAYBOOK from its own prompts module, so it needs no entry.)
SHARES_PLAYBOOK_OF = {"no_show_reply": "no_show"}
#: Every workflow with a step that calls the model (derived from the registry: a new one is checked).
LLM_WORKFLOWS = sorted(name for name, spec in WORKFLOWS.items() if any(step.uses_llm for step in spec.steps))
#: The workflows that own a playbook (``functions.<workflow>.prompts.PLAYBOOK``).
PLAYBOOK_MODULES = [name for name in LLM_WORKFLOWS if name not in SHARES_PLAYBOOK_OF]
#: The offline model counts ~4 characters a token; the API's tokenizer differs by some percent.
MARGIN = 1.10


def playbook(workflow: str) -> Playbook:
    module = importlib.import_module(f"functions.{workflow}.prompts")
    book = getattr(module, "PLAYBOOK", None)
    assert isinstance(book, Playbook), (
        f"{workflow} has LLM steps but functions/{workflow}/prompts.py defines no PLAYBOOK: "
        "define one, or name the workflow whose playbook it uses in SHARES_PLAYBOOK_OF"
    )
    return book


def test_the_playbook_exceptions_name_real_llm_workflows_without_a_playbook_of_their_own() -> None:
    for workflow, owner in SHARES_PLAYBOOK_OF.items():
        assert workflow in LLM_WORKFLOWS, (
            f"{workflow}: no LLM step (any more?): drop it from SHARES_PLAYBOOK_OF"
        )
        assert owner in PLAYBOOK_MODULES, (workflow, owner)
        module = importlib.import_module(f"functions.{workflow}.prompts")
        assert not hasattr(module, "PLAYBOOK"), (
            f"{workflow} has its own PLAYBOOK: drop it from SHARES_PLAYBOOK_OF"
        )


def cache_problem(workflow: str, book: Playbook) -> str | None:
    """What is wrong with ``book``'s prefix on the default model's prompt cache, if anything.

    A prefix clears the model's caching minimum with room for the real tokenizer to count fewer
    tokens, or the playbook says why it need not (``below_cache_minimum_ok``), and that is still
    true: a stale reason misleads the next reader.
    """
    model = LLMSettings.model_fields["model"].default
    minimum = min_cacheable_tokens(model)
    # The prefix (every tool, then the system prompt), counted the way the offline model bills it
    tokens = prefix_tokens(book.tools(), [{"type": "text", "text": book.system}])
    clears = tokens >= MARGIN * minimum
    if not clears and not book.below_cache_minimum_ok:
        return (
            f"{workflow}: the playbook's prefix is {tokens} tokens, under {MARGIN} x {model}'s caching "
            f"minimum ({minimum}): every call would pay the full input price. Lengthen the prompts with "
            "useful instructions, or set below_cache_minimum_ok='<why that is fine>' on the Playbook"
        )
    if clears and book.below_cache_minimum_ok:
        return f"{workflow}: {tokens} tokens clears the caching minimum now: drop below_cache_minimum_ok"
    return None


@pytest.mark.parametrize("workflow", PLAYBOOK_MODULES)
def test_each_workflow_s_prefix_is_cached_by_the_default_model_or_says_why_not(workflow: str) -> None:
    assert cache_problem(workflow, playbook(workflow)) is None


class _Answer(BaseModel):
    answer: str


def _one_task(instructions: str, below_cache_minimum_ok: str = "") -> Playbook:
    task = LLMTask("answer", "Answer the question", _Answer, instructions)
    return Playbook(workflow="tiny", tasks=(task,), below_cache_minimum_ok=below_cache_minimum_ok)


def test_a_short_playbook_passes_only_with_a_reason_and_a_stale_reason_fails() -> None:
    short, long = "Answer in one word.", "Answer the question in plain words. " * 400

    # A short prefix with no reason is refused, with what to do about it
    assert "set below_cache_minimum_ok=" in (cache_problem("tiny", _one_task(short)) or "")
    # the same prefix with a reason is a documented choice
    assert cache_problem("tiny", _one_task(short, "one call a day")) is None
    # and a reason on a prefix that now clears the minimum is stale
    assert "drop below_cache_minimum_ok" in (cache_problem("tiny", _one_task(long, "one call a day")) or "")
    assert cache_problem("tiny", _one_task(long)) is None


@pytest.mark.parametrize("workflow", PLAYBOOK_MODULES)
def test_each_task_s_prompt_is_its_own_section_of_the_system_prompt_unchanged(workflow: str) -> None:
    book = playbook(workflow)
    for task in book.tasks:
        assert f"\n## Task: {task.tool_name}\n\n{task.instructions.strip()}\n" in book.system
        assert f"`{task.tool_name}`" in book.system.split("\n", 1)[0]  # the preamble names every task
    assert [tool["name"] for tool in book.tools()] == [task.tool_name for task in book.tasks]


def test_the_reply_classifier_shares_the_no_show_playbook() -> None:
    from functions.no_show_reply.prompts import CLASSIFY_SYSTEM

    assert playbook("no_show").task("no_show_classify_reply").instructions == CLASSIFY_SYSTEM


def test_the_reengagement_sweep_drafts_with_the_referral_playbook() -> None:
    # One email task, one prompt to maintain, one cache entry both flows keep warm
    assert playbook("reengagement_sweep") is playbook("referral")
