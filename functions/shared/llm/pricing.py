"""Token usage and what it costs, so every LLM call can be charged to its run in the ledger."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

_PER_MILLION = 1_000_000
#: Anthropic bills a 5-minute cache write at 1.25x the input price and a cache read at 0.1x.
CACHE_WRITE_MULTIPLIER = 1.25
CACHE_READ_MULTIPLIER = 0.1
_DATE_SUFFIX = re.compile(r"-\d{8}$")


class UnknownModelError(ValueError):
    """The model id has no price: raised when the client is built, not in the middle of a run."""


class Usage(BaseModel):
    """Token counts as the Messages API reports them (``input_tokens`` excludes cached tokens)."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    cache_creation_input_tokens: int = Field(default=0, ge=0)
    cache_read_input_tokens: int = Field(default=0, ge=0)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
        )

    @classmethod
    def zero(cls) -> Usage:
        return cls(input_tokens=0, output_tokens=0)


class ModelPrice(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float = Field(ge=0)
    cache_read: float = Field(ge=0)

    @classmethod
    def from_io(cls, input_usd: float, output_usd: float) -> ModelPrice:
        """A price whose cache rates follow Anthropic's multipliers of the input price."""
        return cls(
            input=input_usd,
            output=output_usd,
            cache_write=input_usd * CACHE_WRITE_MULTIPLIER,
            cache_read=input_usd * CACHE_READ_MULTIPLIER,
        )

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_creation_input_tokens * self.cache_write
            + usage.cache_read_input_tokens * self.cache_read
        ) / _PER_MILLION


class PriceTable(BaseModel):
    """Model id -> price. A dated id (``claude-sonnet-4-5-20250929``) falls back to its alias."""

    model_config = ConfigDict(frozen=True)

    prices: dict[str, ModelPrice]

    def price(self, model: str) -> ModelPrice:
        found = self.prices.get(model) or self.prices.get(_DATE_SUFFIX.sub("", model))
        if found is None:
            known = ", ".join(sorted(self.prices))
            raise UnknownModelError(f"no price for model {model!r}; known models: {known}")
        return found

    def cost(self, model: str, usage: Usage) -> float:
        return self.price(model).cost(usage)

    def with_prices(self, overrides: Mapping[str, ModelPrice]) -> PriceTable:
        """A copy with some models added or re-priced."""
        return PriceTable(prices={**self.prices, **overrides})


# Configurable defaults (USD per million tokens, standard tier). Check them against the current price
# list and pass a different PriceTable to LLMClient to change them; claude-sonnet-5-5 is assumed to be
# priced like the other Sonnet models.
DEFAULT_PRICES = PriceTable(
    prices={
        "claude-sonnet-4-5": ModelPrice.from_io(3.0, 15.0),
        "claude-sonnet-4-6": ModelPrice.from_io(3.0, 15.0),
        "claude-sonnet-5-5": ModelPrice.from_io(3.0, 15.0),
        "claude-haiku-4-5": ModelPrice.from_io(1.0, 5.0),
        "claude-opus-4-5": ModelPrice.from_io(5.0, 25.0),
    }
)
