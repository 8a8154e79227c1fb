"""Structured outputs: the `response_format` a caller asks for, in the platform's terms, and the
check of a strict answer against its JSON Schema.

Adapters forward the format in their provider's native form; with `strict`, the core validates
the answer (`schema_violation`) and asks once more before refusing it (see `chat.chat_complete`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from genai_platform.providers.types import ChatRequest, ChatResponse, ResponseFormat

from .errors import InvalidRequest, ProviderMisbehaved

#: The error code of an answer that still broke its strict schema after the one retry.
SCHEMA_MISMATCH = "response_schema_mismatch"


def response_format_from_openai(raw: Mapping[str, Any] | None) -> ResponseFormat | None:
    """OpenAI's `response_format` (`{"type": "text" | "json_object"}` or `{"type": "json_schema",
    "json_schema": {"name", "schema", "strict", "description"}}`) as a `ResponseFormat`."""
    if raw is None:
        return None
    kind = raw.get("type")
    if kind in ("text", "json_object"):
        return None if kind == "text" else ResponseFormat(type="json_object")
    if kind != "json_schema":
        raise InvalidRequest(
            "Invalid value for 'response_format.type': expected 'text', 'json_object' or 'json_schema'.",
            code="invalid_value",
            param="response_format.type",
        )
    spec = raw.get("json_schema")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str) or not spec["name"]:
        raise InvalidRequest(
            "Missing required parameter: 'response_format.json_schema.name'.",
            code="missing_required_parameter",
            param="response_format.json_schema.name",
        )
    schema = spec.get("schema", {"type": "object"})
    strict = spec.get("strict") or False
    if not isinstance(schema, Mapping) or not isinstance(strict, bool):
        raise InvalidRequest(
            "Invalid value for 'response_format.json_schema': 'schema' must be an object and 'strict' a boolean.",
            code="invalid_value",
            param="response_format.json_schema",
        )
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidRequest(
            f"Invalid schema for response_format '{spec['name']}': {exc.message}.",
            code="invalid_json_schema",
            param="response_format.json_schema.schema",
        ) from None
    return ResponseFormat(
        type="json_schema",
        name=spec["name"],
        schema=dict(schema),
        strict=strict,
        description=str(spec.get("description") or ""),
    )


def schema_violation(request: ChatRequest, response: ChatResponse) -> str | None:
    """Why a strict structured answer does not conform (None when it does, or nothing is strict).
    An answer that called a tool is not the structured answer, so it is not checked."""
    fmt = request.response_format
    if fmt is None or not fmt.strict or fmt.schema is None or response.tool_calls:
        return None
    try:
        document = json.loads(response.content)
    except ValueError:
        return "the answer is not JSON"
    error = next(iter(Draft202012Validator(fmt.schema).iter_errors(document)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"at {where}: {error.message}"


def schema_refusal(request: ChatRequest, violation: str) -> ProviderMisbehaved:
    name = request.response_format.name if request.response_format else "response"
    return ProviderMisbehaved(
        f"The model's answer did not match the strict JSON schema '{name}' after a retry ({violation}).",
        code=SCHEMA_MISMATCH,
    )
