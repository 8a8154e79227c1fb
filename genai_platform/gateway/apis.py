"""The OpenAI-compatible HTTP edge. Views parse HTTP and render; `pipeline` decides."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from genai_platform.inference.errors import InferenceError

from . import draining, pipeline
from .errors import GatewayError, error_response, gateway_error_for
from .schemas import GuardrailApplyIn, VectorStoreSearchIn, parse_body


@method_decorator(csrf_exempt, name="dispatch")
class OpenAIApi(View):
    """Answers every failure, including a wrong method and the inference core's refusals, as an
    OpenAI-style JSON error."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().dispatch(request, *args, **kwargs)
        except GatewayError as error:
            return error_response(error)
        except InferenceError as error:
            return error_response(gateway_error_for(error))

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        allowed = ", ".join(m.upper() for m in self.http_method_names if hasattr(self, m) and m != "options")
        raise GatewayError(
            405,
            f"Method {request.method} is not allowed for {request.path}; use {allowed}.",
            code="method_not_allowed",
            headers={"Allow": allowed},
        )

    @staticmethod
    def read_json_body(request: HttpRequest) -> bytes:
        limit = settings.GATEWAY_MAX_BODY_BYTES
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        body = request.read(limit + 1)
        if len(body) > limit:
            raise _too_large(limit)
        return body


@method_decorator(csrf_exempt, name="dispatch")  # the override needs its own exemption
class AsyncOpenAIApi(OpenAIApi):
    """The routes that call a model: async views, so that a call waiting for its worker's reply (or
    streaming it) holds no thread (`pipeline`, router/waiting.py)."""

    async def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:  # type: ignore[override]
        try:
            return await super(OpenAIApi, self).dispatch(request, *args, **kwargs)  # type: ignore[no-any-return]
        except GatewayError as error:
            return error_response(error)
        except InferenceError as error:
            return error_response(gateway_error_for(error))

    async def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:  # type: ignore[override]
        return super().http_method_not_allowed(request, *args, **kwargs)


def _too_large(limit: int) -> GatewayError:
    return GatewayError(413, f"Request body too large: the limit is {limit} bytes.", code="request_too_large")


def render(reply: pipeline.GatewayReply) -> HttpResponse:
    if reply.stream is not None:
        stream = draining.until_drained(reply.stream)  # ended cleanly if the gateway shuts down
        response: HttpResponse = StreamingHttpResponse(stream, content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # proxies must relay each event as it comes
    else:
        response = JsonResponse(reply.body)
    for name, value in reply.headers.items():
        response[name] = value
    return response


class ChatCompletionsApi(AsyncOpenAIApi):
    async def post(self, request: HttpRequest) -> HttpResponse:
        body = self.read_json_body(request)
        return render(await pipeline.chat_completion(request.headers.get("Authorization"), body, request.request_id))


class CompletionsApi(AsyncOpenAIApi):
    """Legacy text completions, answered by the chat path."""

    async def post(self, request: HttpRequest) -> HttpResponse:
        body = self.read_json_body(request)
        return render(await pipeline.text_completion(request.headers.get("Authorization"), body, request.request_id))


class EmbeddingsApi(AsyncOpenAIApi):
    async def post(self, request: HttpRequest) -> HttpResponse:
        body = self.read_json_body(request)
        return render(await pipeline.embeddings(request.headers.get("Authorization"), body, request.request_id))


# The routes below do no long wait (guardrails apply, a vector store search, the model list): sync
# views, which Django runs on a worker thread under ASGI.


class GuardrailApplyApi(OpenAIApi):
    def post(self, request: HttpRequest) -> HttpResponse:
        principal = pipeline.authenticate(request.headers.get("Authorization"))
        body = parse_body(GuardrailApplyIn, self.read_json_body(request))
        return render(pipeline.guardrails_apply(principal, body))


class VectorStoreSearchApi(OpenAIApi):
    def post(self, request: HttpRequest, store_id: str) -> HttpResponse:
        principal = pipeline.authenticate(request.headers.get("Authorization"))
        body = parse_body(VectorStoreSearchIn, self.read_json_body(request))
        return render(pipeline.vector_store_search(principal, store_id, body, request.request_id))


class ModelListApi(OpenAIApi):
    def get(self, request: HttpRequest) -> HttpResponse:
        principal = pipeline.authenticate(request.headers.get("Authorization"))
        return JsonResponse(pipeline.models_list(principal))


class ModelDetailApi(OpenAIApi):
    def get(self, request: HttpRequest, model: str) -> HttpResponse:
        principal = pipeline.authenticate(request.headers.get("Authorization"))
        return JsonResponse(pipeline.model_retrieve(principal, model))
