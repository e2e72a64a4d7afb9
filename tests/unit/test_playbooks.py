"""Every workflow's playbook is one prompt prefix that the default model caches."""

from __future__ import annotations

import importlib

import pytest

from functions.shared.llm.offline import min_cacheable_tokens, prefix_tokens
from functions.shared.llm.playbook import Playbook
from functions.shared.llm.settings import LLMSettings

#: The workflows whose steps call the model (no_show_reply's ClassifyReply is in no_show's playbook).
PLAYBOOK_MODULES = (
    "sales_outreach",
    "case_study",
    "law_firm_ops",
    "referral",
    "no_show",
    "reengagement_sweep",
)
#: The offline model counts ~4 characters a token; the API's tokenizer differs by some percent.
MARGIN = 1.10


def playbook(workflow: str) -> Playbook:
    book: Playbook = importlib.import_module(f"functions.{workflow}.prompts").PLAYBOOK
    return book


@pytest.mark.parametrize("workflow", PLAYBOOK_MODULES)
def test_each_workflow_s_prefix_clears_the_default_model_s_cache_minimum_with_a_margin(workflow: str) -> None:
    # Given the workflow's playbook and the model the steps call unless configured otherwise
    book = playbook(workflow)
    model = LLMSettings.model_fields["model"].default

    # When its prefix (every tool, then the system prompt) is counted the way the offline model bills it
    tokens = prefix_tokens(book.tools(), [{"type": "text", "text": book.system}])

    # Then it is cached on that model, with room for the real tokenizer to count fewer tokens
    assert tokens >= MARGIN * min_cacheable_tokens(model), (workflow, tokens)


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
