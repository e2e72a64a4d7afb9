"""A workflow's prompt playbook: one static prefix (every task's tool, then one system prompt) for
all of the workflow's LLM steps.

Why one prefix per workflow and not one per step: Anthropic caches the prompt prefix (tools, then
system, up to the ``cache_control`` breakpoint) only from a per-model minimum length, and only
byte for byte. Steps that each send their own ~1,100-1,720-token prompt stay under the minimum
that users measure for ``claude-sonnet-4-6`` (about 2,048 tokens, against the 1,024 the docs give;
docs/performance.md), so on that model none of them would be cached. With one shared prefix:

- every workflow's prefix clears 2,048 tokens without padding a prompt with filler;
- the second LLM step of a run reads the prefix the first step wrote, so even a run on a cold
  cache pays the write once, and any step's call keeps the entry warm for the others;
- ``tool_choice`` names the step's tool; changing it between calls does not invalidate the
  tools + system cache (Anthropic's prompt-caching docs, "what invalidates the cache").

The price: each call also carries the other tasks' instructions and tool schemas (read from the
cache at a tenth of the input price), and a change to any task's prompt re-writes the whole
workflow's entry once. Each task's section is the step's full prompt, unchanged; the user turn names
the task (``Task: <tool name>``) so that the model follows that section only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from anthropic.types import ToolParam


@dataclass(frozen=True)
class LLMTask:
    """One LLM step's forced tool and its section of the playbook's system prompt."""

    tool_name: str
    description: str  # the tool's description, as the model sees it
    #: The tool's input schema comes from this model. A step may validate the answer with a
    #: subclass that binds run-specific limits (``match_model``, ``bound_to``), never a new schema.
    output_model: type[BaseModel]
    instructions: str


@dataclass(frozen=True)
class Playbook:
    """Every LLM task of one workflow, rendered into the one static prefix they all send."""

    workflow: str  # what the preamble calls the workflow, e.g. "sales outreach"
    tasks: tuple[LLMTask, ...]
    #: Why this prefix may stay under the default model's caching minimum (every call then pays the
    #: full input price), e.g. "one cheap call a day: padding the prompt would cost more than it
    #: saves". Empty (the default): it must clear the minimum. ``tests/unit/test_playbooks.py``
    #: checks both ways (a stale reason fails too), and the client does not warn about a declared one.
    below_cache_minimum_ok: str = ""
    _by_name: dict[str, LLMTask] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {task.tool_name: task for task in self.tasks}
        if not self.tasks or len(by_name) != len(self.tasks):
            raise ValueError(f"playbook {self.workflow!r} needs at least one task and unique tool names")
        object.__setattr__(self, "_by_name", by_name)

    def task(self, tool_name: str) -> LLMTask:
        try:
            return self._by_name[tool_name]
        except KeyError:
            raise ValueError(
                f"playbook {self.workflow!r} has no task {tool_name!r} (tasks: {sorted(self._by_name)})"
            ) from None

    @cached_property
    def system(self) -> str:
        """The system prompt: a preamble, then one section per task, in the order of ``tasks``."""
        names = ", ".join(f"`{task.tool_name}`" for task in self.tasks)
        preamble = (
            f"This system prompt holds the instructions of every AI step of the {self.workflow} "
            f"workflow, one section per task ({names}). The first user message of each request "
            "starts with `Task: <tool name>`. Follow only the section of that task, ignore the "
            "other sections, and answer only by calling that task's tool.\n"
        )
        sections = [f"\n## Task: {task.tool_name}\n\n{task.instructions.strip()}\n" for task in self.tasks]
        return preamble + "".join(sections)

    @cached_property
    def _tools_json(self) -> str:
        tools = [
            {
                "name": task.tool_name,
                "description": task.description,
                "input_schema": task.output_model.model_json_schema(),
            }
            for task in self.tasks
        ]
        return json.dumps(tools)

    def tools(self) -> list[ToolParam]:
        """The tool definitions, a fresh copy per call: nothing downstream may change what the next
        call sends, since they are part of the cached prefix and must stay byte-identical."""
        tools: list[Any] = json.loads(self._tools_json)
        return tools

    def user_turn(self, tool_name: str, prompt: str) -> str:
        """The run-specific user turn, led by the task name the system prompt tells the model to follow."""
        self.task(tool_name)
        return f"Task: {tool_name}\n\n{prompt}"
