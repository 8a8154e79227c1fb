"""The Responses API's views under `/v1/responses`: parse HTTP and render; `responses` decides."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from . import pipeline, responses
from .apis import AsyncOpenAIApi, OpenAIApi, render
from .errors import GatewayError


class ResponseCreateApi(AsyncOpenAIApi):
    async def post(self, request: HttpRequest) -> HttpResponse:
        body = self.read_json_body(request)
        return render(await responses.response_create(request.headers.get("Authorization"), body, request.request_id))


class ResponseDetailApi(OpenAIApi):
    def get(self, request: HttpRequest, response_id: str) -> HttpResponse:
        principal = pipeline.authenticate(request.headers.get("Authorization"))
        return render(responses.response_retrieve(principal, response_id))

    def delete(self, request: HttpRequest, response_id: str) -> HttpResponse:
        principal = pipeline.authenticate(request.headers.get("Authorization"))
        return render(responses.response_delete(principal, response_id))


class ResponseInputItemsApi(OpenAIApi):
    def get(self, request: HttpRequest, response_id: str) -> HttpResponse:
        principal = pipeline.authenticate(request.headers.get("Authorization"))
        limit = request.GET.get("limit", "20")
        if not limit.isdigit():
            raise GatewayError(
                400, "Invalid value for 'limit': expected an integer.", param="limit", code="invalid_value"
            )
        return render(
            responses.response_input_items(
                principal,
                response_id,
                order=request.GET.get("order", "desc"),
                after=request.GET.get("after"),
                limit=int(limit),
            )
        )
