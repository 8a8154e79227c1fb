"""The OpenAPI document of the inference API (`GET /v1/openapi.json`), built from the same pydantic
models that validate the requests, so the document cannot drift from what the gateway accepts.

Schemathesis generates requests from it in `make test` (tests/test_schemathesis.py)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from pydantic import BaseModel

from .response_schemas import ResponseCreateIn
from .schemas import ChatCompletionIn, CompletionIn, EmbeddingsIn, GuardrailApplyIn, VectorStoreSearchIn

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
# The agents' run input (lob_tenants/agents/gateway_apis.py owns the model; the gateway must not import it).
_AGENT_RUN_IN = {
    "type": "object",
    "additionalProperties": False,
    "required": ["input"],
    "properties": {
        "input": {
            "anyOf": [
                {"type": "string"},
                {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["role", "content"],
                        "properties": {
                            "role": {"enum": ["user", "assistant"]},
                            "content": {"type": "string", "minLength": 1},
                        },
                    },
                },
            ]
        },
        "wait": {"type": "boolean"},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
    },
}


def inference_openapi() -> dict[str, Any]:
    components: dict[str, Any] = {"Error": _ERROR, "AgentRunCreate": _AGENT_RUN_IN}

    def body(model: type[BaseModel]) -> dict[str, Any]:
        schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
        return _json_body(model.__name__)

    def operation(operation_id: str, request: dict[str, Any] | None = None, **params: str) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "operationId": operation_id,
            "security": [{"apiKey": []}],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
                "default": {"description": "An OpenAI-style error", "content": _json_content("Error")},
            },
        }
        if request is not None:
            spec["requestBody"] = request
        if params:
            spec["parameters"] = [
                {"name": name, "in": "path", "required": True, "schema": {"type": kind}}
                for name, kind in params.items()
            ]
        return spec

    paths = {
        "/v1/chat/completions": {"post": operation("chat_completion_create", body(ChatCompletionIn))},
        "/v1/completions": {"post": operation("completion_create", body(CompletionIn))},
        "/v1/embeddings": {"post": operation("embedding_create", body(EmbeddingsIn))},
        "/v1/responses": {"post": operation("response_create", body(ResponseCreateIn))},
        "/v1/responses/{response_id}": {
            "get": operation("response_retrieve", response_id="string"),
            "delete": operation("response_delete", response_id="string"),
        },
        "/v1/responses/{response_id}/input_items": {"get": operation("response_input_items", response_id="string")},
        "/v1/guardrails/apply": {"post": operation("guardrails_apply", body(GuardrailApplyIn))},
        "/v1/vector_stores/{store_id}/search": {
            "post": operation("vector_store_search", body(VectorStoreSearchIn), store_id="string")
        },
        "/v1/models": {"get": operation("model_list")},
        "/v1/models/{model}": {"get": operation("model_retrieve", model="string")},
        "/v1/agents/{agent_id}/runs": {
            "post": operation("agent_run_create", _json_body("AgentRunCreate"), agent_id="string")
        },
        "/v1/agents/{agent_id}/runs/{run_id}": {
            "get": operation("agent_run_retrieve", agent_id="string", run_id="string")
        },
        "/v1/agents/{agent_id}/runs/{run_id}/cancel": {
            "post": operation("agent_run_cancel", agent_id="string", run_id="string")
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "GenAI platform inference API (OpenAI-compatible)", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
    }


def _json_content(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


def _json_body(name: str) -> dict[str, Any]:
    return {"required": True, "content": _json_content(name)}


def openapi_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(inference_openapi())
