"""Azure OpenAI: `/openai/deployments/{deployment}/...?api-version=...` with an API key or Entra ID.

This module only builds the `openai.AzureOpenAI` client; the wire translation lives in
`_openai_wire.py`, shared with OpenAI-compatible servers. `ChatRequest.model` and
`EmbeddingRequest.model` are deployment names. Account settings:

- `endpoint`: the resource endpoint, `https://<resource>.openai.azure.com` (required).
- `credentials["api_key"]`: the resource key. Without it the worker authenticates with Entra ID
  through `DefaultAzureCredential` (managed identity, workload identity, or a service principal
  from `AZURE_CLIENT_ID`/`AZURE_TENANT_ID`/`AZURE_CLIENT_SECRET`).
- `options`: `api_version`, `managed_identity_client_id` (a user-assigned identity), plus the wire
  options of `WireOptions` (`max_tokens_parameter`, `stream_include_usage`, `embedding_encoding`).
"""

from __future__ import annotations

from collections.abc import Callable

import openai
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, ClientAuthenticationError
from azure.identity import DefaultAzureCredential, get_bearer_token_provider

from ._openai_wire import ChatCompletionsAdapter, WireOptions, http_client
from .types import AccountConfig, ErrorKind, ProviderError

#: The latest GA data-plane version of the deployments-style API; it knows `max_completion_tokens`
#: and `stream_options`.
DEFAULT_API_VERSION = "2024-10-21"
COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"
# Reasoning deployments (o-series, gpt-5) refuse `max_tokens`; every chat model accepts
# `max_completion_tokens` since api-version 2024-09-01-preview.
WIRE_DEFAULTS = WireOptions(
    max_tokens_parameter="max_completion_tokens", stream_include_usage=True, embedding_encoding="base64"
)


class AzureOpenAIAdapter(ChatCompletionsAdapter):
    def __init__(self, config: AccountConfig, *, token_credential: TokenCredential | None = None) -> None:
        """`token_credential` replaces `DefaultAzureCredential` (tests, or a caller with its own identity)."""
        if not config.endpoint:
            raise ProviderError(
                ErrorKind.BAD_REQUEST,
                "an Azure OpenAI account needs its endpoint (https://<resource>.openai.azure.com)",
            )
        options = config.options
        api_key = config.credentials.get("api_key") or None
        token_provider = None
        if api_key is None:
            credential = token_credential or DefaultAzureCredential(
                managed_identity_client_id=options.get("managed_identity_client_id")
            )
            token_provider = _entra_token_provider(credential)
        client = openai.AzureOpenAI(
            azure_endpoint=config.endpoint,
            api_version=str(options.get("api_version") or DEFAULT_API_VERSION),
            # Exactly one of the two is set, so the SDK never falls back to AZURE_OPENAI_* variables.
            api_key=api_key,
            azure_ad_token_provider=token_provider,
            # The platform's router owns retries, fallback and circuit breaking.
            max_retries=0,
            timeout=config.timeout_seconds,
            http_client=http_client(options),
        )
        super().__init__(client, WireOptions.from_options(options, defaults=WIRE_DEFAULTS))


def _entra_token_provider(credential: TokenCredential) -> Callable[[], str]:
    """A token callable whose failures are `ProviderError`s: the SDK calls it outside its own error handling."""
    bearer_token = get_bearer_token_provider(credential, COGNITIVE_SERVICES_SCOPE)

    def token() -> str:
        try:
            return bearer_token()
        except ClientAuthenticationError as exc:
            raise ProviderError(ErrorKind.AUTH, f"no Entra ID token for Azure OpenAI: {exc.message}") from exc
        except AzureError as exc:
            raise ProviderError(ErrorKind.UNAVAILABLE, f"cannot reach Entra ID: {exc.message}") from exc

    return token
