"""The LLM client package. Names are loaded on first use, so importing e.g. ``llm.audit`` does not
import ``anthropic`` (about 0.9 s of cold start that steps without an LLM call must not pay)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from functions.shared.llm.audit import AuditStore, InMemoryAuditStore, S3AuditStore, audit_key
    from functions.shared.llm.client import LLMCallContext, LLMClient, LLMResult, Operation
    from functions.shared.llm.factory import get_llm_client, reset_llm_client
    from functions.shared.llm.offline import (
        BadRequest,
        Malformed,
        OfflineModel,
        Overloaded,
        RateLimited,
        Refusal,
        Reply,
        ScriptedResponse,
        ServerError,
        offline_model,
    )
    from functions.shared.llm.playbook import LLMTask, Playbook
    from functions.shared.llm.pricing import DEFAULT_PRICES, ModelPrice, PriceTable, UnknownModelError, Usage
    from functions.shared.llm.settings import LLMSettings, llm_settings

_EXPORTS: dict[str, str] = {
    "AuditStore": "audit",
    "InMemoryAuditStore": "audit",
    "S3AuditStore": "audit",
    "audit_key": "audit",
    "LLMCallContext": "client",
    "LLMClient": "client",
    "LLMResult": "client",
    "Operation": "client",
    "get_llm_client": "factory",
    "reset_llm_client": "factory",
    "BadRequest": "offline",
    "Malformed": "offline",
    "OfflineModel": "offline",
    "Overloaded": "offline",
    "RateLimited": "offline",
    "Refusal": "offline",
    "Reply": "offline",
    "ScriptedResponse": "offline",
    "ServerError": "offline",
    "offline_model": "offline",
    "LLMTask": "playbook",
    "Playbook": "playbook",
    "DEFAULT_PRICES": "pricing",
    "ModelPrice": "pricing",
    "PriceTable": "pricing",
    "UnknownModelError": "pricing",
    "Usage": "pricing",
    "LLMSettings": "settings",
    "llm_settings": "settings",
}

__all__ = [
    "DEFAULT_PRICES",
    "AuditStore",
    "BadRequest",
    "InMemoryAuditStore",
    "LLMCallContext",
    "LLMClient",
    "LLMResult",
    "LLMSettings",
    "LLMTask",
    "Malformed",
    "ModelPrice",
    "OfflineModel",
    "Operation",
    "Overloaded",
    "Playbook",
    "PriceTable",
    "RateLimited",
    "Refusal",
    "Reply",
    "S3AuditStore",
    "ScriptedResponse",
    "ServerError",
    "UnknownModelError",
    "Usage",
    "audit_key",
    "get_llm_client",
    "llm_settings",
    "offline_model",
    "reset_llm_client",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
