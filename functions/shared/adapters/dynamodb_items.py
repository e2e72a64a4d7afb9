"""Plain Python values ⇄ low-level DynamoDB attribute values, shared by every DynamoDB adapter.

Floats go in as ``Decimal`` (the boto3 serializer refuses floats) and Decimals come back as int or
float, so models stay JSON-safe; ``None`` top-level attributes are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

Item = dict[str, Any]  # low-level, typed DynamoDB attribute values

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_from_dynamo(v) for v in value]
    return value


def serialize(attributes: Mapping[str, Any]) -> Item:
    """Plain values → low-level attribute values; ``None`` top-level attributes are left out."""
    return {k: _SERIALIZER.serialize(_to_dynamo(v)) for k, v in attributes.items() if v is not None}


def deserialize(item: Item) -> dict[str, Any]:
    return {k: _from_dynamo(_DESERIALIZER.deserialize(v)) for k, v in item.items()}
