"""OpenAI-compatible servers: OpenAI itself, vLLM, Ollama, llama.cpp server, and anything else
that serves `/v1/chat/completions` and `/v1/embeddings` with Bearer auth.

This module only builds the `openai.OpenAI` client; the wire translation lives in
`_openai_wire.py`, shared with Azure OpenAI. Account settings:

- `endpoint`: the API base URL including `/v1` (`http://vllm.internal:8000/v1`); empty means OpenAI.
- `credentials["api_key"]`: the Bearer key; local servers that check none get a placeholder.
- `options`: `default_headers` (non-secret headers sent on every call), `organization` and
  `project` (OpenAI ids), plus the wire options of `WireOptions` (`max_tokens_parameter`,
  `stream_include_usage`, `embedding_encoding`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import openai

from ._json_post import json_poster
from ._openai_wire import ChatCompletionsAdapter, WireOptions, http_client
from .types import AccountConfig, ErrorKind, ProviderError, max_connections

OPENAI_BASE_URL = "https://api.openai.com/v1"
#: vLLM, Ollama and llama.cpp accept any key unless told to check one; the SDK insists on one.
PLACEHOLDER_API_KEY = "unused"
WIRE_DEFAULTS = WireOptions(max_tokens_parameter="max_tokens", stream_include_usage=True, embedding_encoding="float")


class OpenAICompatibleAdapter(ChatCompletionsAdapter):
    def __init__(self, config: AccountConfig) -> None:
        options = config.options
        client = openai.OpenAI(
            # Explicit, so a stray OPENAI_BASE_URL or OPENAI_API_KEY in the worker's environment never applies.
            base_url=config.endpoint or OPENAI_BASE_URL,
            api_key=config.credentials.get("api_key") or PLACEHOLDER_API_KEY,
            organization=options.get("organization"),
            project=options.get("project"),
            default_headers=_default_headers(options),
            # The platform's router owns retries, fallback and circuit breaking.
            max_retries=0,
            timeout=config.timeout_seconds,
            http_client=http_client(options),
        )
        wire = WireOptions.from_options(options, defaults=WIRE_DEFAULTS)
        # Whole chat answers skip the SDK's request machinery (~0.65 ms of CPU per call); streams
        # and embeddings keep it.
        super().__init__(client, wire, poster=json_poster(client, size=max_connections(options)))


def _default_headers(options: Mapping[str, Any]) -> dict[str, str] | None:
    headers = options.get("default_headers")
    if headers is None:
        return None
    if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values()):
        raise ProviderError(ErrorKind.BAD_REQUEST, "account option 'default_headers' must map header names to strings")
    if any(name.lower() in ("authorization", "api-key") for name in headers):
        # Options are stored in the catalog in clear; secrets belong in the credentials reference.
        raise ProviderError(
            ErrorKind.BAD_REQUEST, "account option 'default_headers' must not carry credentials; use credentials"
        )
    return dict(headers)
