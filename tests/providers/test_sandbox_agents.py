"""The sandbox's agent behaviour: it calls the tools a user mentions, in order, then quotes them."""

from __future__ import annotations

import json

from genai_platform.providers.sandbox import SandboxAdapter
from genai_platform.providers.types import AccountConfig, ChatRequest, Message, ToolDefinition

LOOKUP = ToolDefinition(
    "lookup", parameters={"type": "object", "properties": {"id": {"type": "integer"}, "note": {"type": "string"}}}
)
WEATHER = ToolDefinition("weather", parameters={"type": "object", "properties": {"city": {"type": "string"}}})


def sandbox() -> SandboxAdapter:
    return SandboxAdapter(AccountConfig(provider="sandbox"))


def ask(*messages: Message, tool_choice: str | None = None) -> ChatRequest:
    return ChatRequest(model="m", messages=messages, tools=(LOOKUP, WEATHER), tool_choice=tool_choice)


def test_the_first_mentioned_tool_is_called_with_arguments_from_the_schema():
    text = "weather city=Oslo, then lookup id=7"

    call = sandbox().chat(ask(Message("user", text))).tool_calls[0]

    assert call.name == "weather"
    assert json.loads(call.arguments) == {"city": "Oslo"}


def test_a_string_property_not_given_gets_the_users_text_and_typed_values_are_converted():
    call = sandbox().chat(ask(Message("user", "lookup id=7"))).tool_calls[0]

    assert json.loads(call.arguments) == {"id": 7, "note": "lookup id=7"}


def test_tools_already_called_are_skipped_and_then_the_results_are_quoted():
    user = Message("user", "weather city=Oslo, then lookup id=7")
    first = sandbox().chat(ask(user)).tool_calls[0]
    after_one = (user, Message("assistant", tool_calls=(first,)), Message("tool", "sunny", tool_call_id=first.id))
    second = sandbox().chat(ask(*after_one)).tool_calls[0]
    after_two = (*after_one, Message("assistant", tool_calls=(second,)), Message("tool", "{}", tool_call_id=second.id))

    answer = sandbox().chat(ask(*after_two))

    assert second.name == "lookup"
    assert answer.finish_reason == "stop" and not answer.tool_calls
    assert answer.content == '[sandbox] The tools returned: weather: "sunny"; lookup: "{}"'


def test_a_message_mentioning_no_tool_gets_the_usual_answer_and_words_containing_a_name_do_not_count():
    response = sandbox().chat(ask(Message("user", "what about weathers and lookups?")))

    assert response.content == '[sandbox] You said: "what about weathers and lookups?"'


def test_tool_choice_none_never_calls_a_tool():
    assert not sandbox().chat(ask(Message("user", "weather city=Oslo"), tool_choice="none")).tool_calls
