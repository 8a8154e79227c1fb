"""The OCI adapter: one account (tenancy, region, compartment) over `GenerativeAiInferenceClient`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import oci
from oci.generative_ai_inference import GenerativeAiInferenceClient
from oci.generative_ai_inference import models as genai

from genai_platform.providers.lending import LendingPool
from genai_platform.providers.tokens import estimate_tokens
from genai_platform.providers.types import (
    AccountConfig,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ErrorKind,
    ProviderError,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
)

from .cohere import COHERE, CohereStream, cohere_request, cohere_response
from .errors import invoke, provider_error
from .generic import GENERIC, GenericStream, generic_request, generic_response
from .shared import event_payload
from .signing import identity

DEDICATED_ENDPOINT_PREFIX = "ocid1.generativeaiendpoint."
ENDPOINT_TEMPLATE = "https://inference.generativeai.{region}.oci.oraclecloud.com"
#: OCI's embedText accepts at most this many inputs per call; longer requests are split.
MAX_EMBED_BATCH = 96
MAX_CONNECT_TIMEOUT_SECONDS = 10.0


class OCIAdapter:
    """One OCI account (tenancy, region and compartment); SDK clients are built once and reused,
    each lent to one call at a time."""

    def __init__(self, config: AccountConfig) -> None:
        options = dict(config.options)
        compartment_id = options.get("compartment_id")
        if not compartment_id:
            raise ProviderError(
                ErrorKind.BAD_REQUEST, "the OCI account needs options.compartment_id (a compartment OCID)"
            )
        self._compartment_id = str(compartment_id)
        api_format = options.get("api_format")
        if api_format is not None and str(api_format).upper() not in (GENERIC, COHERE):
            raise ProviderError(
                ErrorKind.BAD_REQUEST, f"options.api_format must be GENERIC or COHERE, not {api_format!r}"
            )
        self._api_format = str(api_format).upper() if api_format is not None else None
        self._truncate = str(options.get("embed_truncate", "NONE")).upper()

        sdk_config, signer = identity(config, options)
        region = config.region or getattr(signer, "region", None) or ""
        if not config.endpoint and not region:
            raise ProviderError(ErrorKind.BAD_REQUEST, "the OCI account needs a region or an endpoint")
        timeout = float(config.timeout_seconds)
        client_options: dict[str, Any] = {
            "service_endpoint": config.endpoint or ENDPOINT_TEMPLATE.format(region=region),
            # The platform's router retries, falls back and breaks circuits; the SDK must not do it too.
            "retry_strategy": oci.retry.NoneRetryStrategy(),
            "circuit_breaker_strategy": oci.circuit_breaker.NoCircuitBreakerStrategy(),
            "timeout": (min(MAX_CONNECT_TIMEOUT_SECONDS, timeout), timeout),
        }
        if signer is not None:
            client_options["signer"] = signer

        def new_client() -> GenerativeAiInferenceClient:
            try:
                return GenerativeAiInferenceClient(sdk_config, **client_options)
            except (oci.exceptions.ClientError, ValueError, TypeError) as exc:
                raise ProviderError(ErrorKind.AUTH, f"cannot use the OCI API signing key: {exc}") from exc

        # OCI clients are not thread-safe: each call borrows one (the first is built now, so a bad
        # key fails here); an ambient identity's signer is shared, as its token refresh is locked.
        self._clients = LendingPool(new_client, first=new_client())

    # ---- public API ----

    def chat(self, request: ChatRequest) -> ChatResponse:
        api_format, details = self._chat_details(request, stream=False)
        with self._clients.borrowed() as client:
            response = invoke(client.chat, details)
        try:
            chat_response = response.data.chat_response
            if api_format == COHERE:
                return cohere_response(chat_response, request, response.request_id)
            return generic_response(chat_response, request, response.request_id)
        except ProviderError:
            raise
        except Exception as exc:
            raise ProviderError(ErrorKind.UNAVAILABLE, f"unexpected OCI chat response: {exc}") from exc

    def chat_stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        api_format, details = self._chat_details(request, stream=True)
        with self._clients.borrowed() as client:
            # The client stays lent until the stream is read or abandoned: its session carries it.
            yield from self._relay(client, api_format, details, request)

    def _relay(self, client: Any, api_format: str, details: Any, request: ChatRequest) -> Iterator[StreamEvent]:
        response = invoke(client.chat, details)
        parser: GenericStream | CohereStream = CohereStream() if api_format == COHERE else GenericStream()
        source = response.data
        try:
            if hasattr(source, "events"):
                for event in source.events():
                    yield from parser.feed(event_payload(event.data))
            elif hasattr(source, "chat_response"):
                # The service may answer a stream request with one JSON document; replay it as events.
                yield from _replay(source.chat_response, api_format, request, response.request_id)
                return
            else:
                raise ProviderError(ErrorKind.UNAVAILABLE, "OCI answered a streamed chat with neither SSE nor JSON")
            yield parser.end(request)
        except ProviderError:
            raise
        except Exception as exc:
            raise provider_error(exc) from exc
        finally:
            close = getattr(source, "close", None)
            if callable(close):
                # Releasing the connection must never hide the real outcome of the stream.
                with contextlib.suppress(Exception):
                    close()

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        vectors: list[tuple[float, ...]] = []
        input_tokens = 0
        estimated = False
        for start in range(0, len(request.inputs), MAX_EMBED_BATCH):
            batch = list(request.inputs[start : start + MAX_EMBED_BATCH])
            try:
                details = genai.EmbedTextDetails(
                    inputs=batch,
                    serving_mode=_serving_mode(request.model),
                    compartment_id=self._compartment_id,
                    input_type="SEARCH_QUERY" if request.input_type == "search_query" else "SEARCH_DOCUMENT",
                    truncate=self._truncate,
                    output_dimensions=request.dimensions,
                )
            except (ValueError, TypeError) as exc:
                raise ProviderError(ErrorKind.BAD_REQUEST, f"invalid OCI embedding request: {exc}") from exc
            with self._clients.borrowed() as client:
                result = invoke(client.embed_text, details).data
            try:
                vectors.extend(tuple(float(x) for x in vector) for vector in result.embeddings)
                reported = getattr(result.usage, "prompt_tokens", None) if result.usage is not None else None
            except Exception as exc:
                raise ProviderError(ErrorKind.UNAVAILABLE, f"unexpected OCI embedding response: {exc}") from exc
            if reported is None:
                reported = sum(estimate_tokens(text) for text in batch)
                estimated = True
            input_tokens += reported
        return EmbeddingResponse(tuple(vectors), Usage(input_tokens, 0, estimated=estimated))

    # ---- request building ----

    def _chat_details(self, request: ChatRequest, *, stream: bool) -> tuple[str, Any]:
        api_format = self._api_format or (COHERE if request.model.lower().startswith("cohere.") else GENERIC)
        try:
            chat_request = cohere_request(request) if api_format == COHERE else generic_request(request)
            if stream:
                chat_request.is_stream = True
                chat_request.stream_options = genai.StreamOptions(is_include_usage=True)
            details = genai.ChatDetails(
                compartment_id=self._compartment_id,
                serving_mode=_serving_mode(request.model),
                chat_request=chat_request,
            )
        except (ValueError, TypeError) as exc:
            raise ProviderError(ErrorKind.BAD_REQUEST, f"invalid OCI chat request: {exc}") from exc
        return api_format, details


def _serving_mode(model: str) -> Any:
    if model.startswith(DEDICATED_ENDPOINT_PREFIX):
        return genai.DedicatedServingMode(endpoint_id=model)
    return genai.OnDemandServingMode(model_id=model)


def _replay(chat_response: Any, api_format: str, request: ChatRequest, request_id: str | None) -> Iterator[StreamEvent]:
    whole = (
        cohere_response(chat_response, request, request_id)
        if api_format == COHERE
        else generic_response(chat_response, request, request_id)
    )
    if whole.content:
        yield TextDelta(whole.content)
    for index, call in enumerate(whole.tool_calls):
        yield ToolCallDelta(index=index, id=call.id, name=call.name, arguments=call.arguments)
    yield StreamEnd(whole.finish_reason, whole.usage)
