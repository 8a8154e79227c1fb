"""The prompt catalog on the request path: a use case that pins a prompt template version gets it
rendered, with the request's `prompt_variables`, as the first (system) message of every chat completion."""

from __future__ import annotations

import dataclasses
from typing import Any

from genai_platform.providers.types import ChatRequest, Message
from lob_tenants.prompts import PromptVariableError, prompt_render

from .errors import InvalidRequest, NotPermitted
from .principal import KeyPrincipal

PARAM = "prompt_variables"


def with_pinned_prompt(principal: KeyPrincipal, request: ChatRequest, variables: dict[str, Any] | None) -> ChatRequest:
    """`request` with the pinned template rendered first as a system message, or unchanged when the
    use case pins none. Variables without a pinned template, or that do not fit its declaration,
    are an `InvalidRequest` naming `prompt_variables` (and, in the message, the variable)."""
    pinned = principal.prompt_template
    if pinned is None:
        if variables is not None:
            raise InvalidRequest(
                f"Use case '{principal.use_case_slug}' pins no prompt template, so there is nothing to render "
                "prompt_variables into; leave them out or pin a template.",
                param=PARAM,
                code="invalid_value",
            )
        return request
    if not pinned.readable:
        # The owning LOB revoked the grant the version was pinned through: fail closed rather than
        # silently calling the model without the prompt the application expects.
        raise NotPermitted(
            f"The prompt template {pinned.label} pinned by use case '{principal.use_case_slug}' is no longer "
            "shared with it; pin another version.",
            code="prompt_template_not_shared",
        )
    try:
        text = prompt_render(template_version=pinned, variables=variables)
    except PromptVariableError as error:
        raise InvalidRequest(error.message, param=PARAM, code="invalid_value") from None
    return dataclasses.replace(request, messages=(Message(role="system", content=text), *request.messages))
