"""Reusable constrained types for every workflow's input and step models."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

#: An id as business systems hand them out: letters, digits, dash, underscore.
BusinessId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_-]{1,64}$")]

EMAIL_PATTERN = (
    r"^[^@\s<>(),;:\"\[\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$"
)


def _lower(value: str) -> str:
    return value.lower()


#: A single plain address (no display name, no list): recipients come from systems of record.
EmailAddress = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=EMAIL_PATTERN),
    AfterValidator(_lower),
]


def _no_line_breaks(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line")
    return value


#: One line of free text (a subject, a name): line breaks would allow header injection.
SingleLine = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(_no_line_breaks)
]

#: Free text typed by a person or a model: bounded so a run's state stays far below 256 KiB.
FreeText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]

Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
S3Uri = Annotated[str, Field(pattern=r"^s3://[a-z0-9.-]{3,63}/.+$")]


class CaughtError(BaseModel):
    """What a ``Catch`` with ``ResultPath`` leaves in the state (``$.error``)."""

    Error: str
    Cause: str | None = None

    def summary(self, limit: int = 500) -> str:
        """``Error: Cause``, bounded: what failure activities and outcomes record."""
        return f"{self.Error}: {self.Cause or ''}"[:limit]


def reject_placeholders(text: str, markers: tuple[str, ...]) -> str:
    """``text`` unchanged, or ValueError naming the first template leftover (the client re-prompts)."""
    lowered = text.lower()
    for marker in markers:
        if marker in lowered:
            raise ValueError(f"contains the unfilled placeholder {marker!r}; write the real text")
    return text
