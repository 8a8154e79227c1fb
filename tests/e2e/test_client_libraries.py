"""Client libraries nobody here wrote, unchanged but for base_url and api_key, against a live gateway:
the openai SDK, LangChain and LlamaIndex with their defaults. What cannot pass is listed in
docs/api.md ("Client compatibility") with the reason."""

from __future__ import annotations

import json

import openai
import pytest
from pydantic import BaseModel

from .conftest import LiveStack

pytestmark = pytest.mark.e2e


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture(scope="module")
def stack(embedded_stack) -> LiveStack:
    return embedded_stack


@pytest.fixture(scope="module")
def client(stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.base_url + "/v1", api_key=stack.demo["api_key"], max_retries=0)


def langchain_chat(stack: LiveStack):
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=stack.demo["model"], base_url=stack.base_url + "/v1", api_key=stack.demo["api_key"], max_retries=0
    )


# ---- openai SDK ----


def test_sdk_embeddings_with_defaults_ask_for_base64_and_decode_it(client, stack):
    vector = client.embeddings.create(model=stack.demo["embedding_model"], input="hello").data[0].embedding

    assert len(vector) > 0 and all(isinstance(v, float) for v in vector)
    as_floats = (
        client.embeddings.create(model=stack.demo["embedding_model"], input="hello", encoding_format="float")
        .data[0]
        .embedding
    )
    assert vector == pytest.approx(as_floats, abs=1e-6)


def test_sdk_tools_round_trip(client, stack):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
    messages = [{"role": "user", "content": "please lookup"}]

    first = client.chat.completions.create(model=stack.demo["model"], messages=messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "42"},
    ]
    second = client.chat.completions.create(model=stack.demo["model"], messages=messages, tools=tools)

    assert call.function.name == "lookup"
    assert "42" in second.choices[0].message.content


def test_sdk_parse_with_a_pydantic_model(client, stack):
    parsed = client.chat.completions.parse(
        model=stack.demo["model"], messages=[{"role": "user", "content": "Ada"}], response_format=Person
    )

    assert isinstance(parsed.choices[0].message.parsed, Person)


def test_sdk_legacy_completions(client, stack):
    reply = client.completions.create(model=stack.demo["model"], prompt="hello")

    assert reply.choices[0].text == '[sandbox] You said: "hello"'


# ---- LangChain ----


def test_langchain_invoke_stream_and_batch(stack):
    llm = langchain_chat(stack)

    assert llm.invoke("hello").content == '[sandbox] You said: "hello"'
    assert "".join(chunk.content for chunk in llm.stream("streamed")) == '[sandbox] You said: "streamed"'
    assert [m.content for m in llm.batch(["one", "two"])] == ['[sandbox] You said: "one"', '[sandbox] You said: "two"']


def test_langchain_bind_tools(stack):
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return "sunny"

    message = langchain_chat(stack).bind_tools([get_weather]).invoke("get_weather city=Paris")

    assert message.tool_calls[0]["name"] == "get_weather"
    assert message.tool_calls[0]["args"] == {"city": "Paris"}


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_langchain_structured_output_with_a_pydantic_model(stack, method):
    person = langchain_chat(stack).with_structured_output(Person, method=method).invoke("Ada")

    assert isinstance(person, Person)


def test_langchain_structured_output_in_json_mode(stack):
    # json_mode sends no schema: the model is only told to answer a JSON object.
    schema = {"title": "Answer", "type": "object", "properties": {"answer": {"type": "string"}}}

    answer = langchain_chat(stack).with_structured_output(schema, method="json_mode").invoke("answer in json")

    assert isinstance(answer, dict)


def test_langchain_embeddings_sending_text(stack):
    # Its default (check_embedding_ctx_length=True) tokenizes with tiktoken on the client, which
    # downloads an encoding file, and sends token ids: see docs/api.md, "Client compatibility".
    from langchain_openai import OpenAIEmbeddings

    embeddings = OpenAIEmbeddings(
        model=stack.demo["embedding_model"],
        base_url=stack.base_url + "/v1",
        api_key=stack.demo["api_key"],
        check_embedding_ctx_length=False,
    )

    vectors = embeddings.embed_documents(["refund policy", "weather"])
    assert len(vectors) == 2 and len(vectors[0]) == len(embeddings.embed_query("refund"))


# ---- LlamaIndex ----


def llama_llm(stack: LiveStack, **options):
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(
        model=stack.demo["model"], api_base=stack.base_url + "/v1", api_key=stack.demo["api_key"], **options
    )


def test_llamaindex_openai_like_with_defaults_completes(stack):
    assert llama_llm(stack).complete("hello").text == '[sandbox] You said: "hello"'


def test_llamaindex_openai_like_as_a_chat_model(stack):
    from llama_index.core.llms import ChatMessage

    reply = llama_llm(stack, is_chat_model=True).chat([ChatMessage(role="user", content="hello")])

    assert reply.message.content == '[sandbox] You said: "hello"'


def test_structured_json_from_the_demo_is_valid_json(client, stack):
    reply = client.chat.completions.create(
        model=stack.demo["model"],
        messages=[{"role": "user", "content": "json please"}],
        response_format={"type": "json_object"},
    )

    assert isinstance(json.loads(reply.choices[0].message.content), dict)


# ---- the Responses API ----


def test_sdk_responses_create_whole_and_streamed(client, stack):
    whole = client.responses.create(model=stack.demo["model"], input="hello")
    with client.responses.stream(model=stack.demo["model"], input="streamed") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()

    assert whole.output_text == '[sandbox] You said: "hello"'
    assert "".join(deltas) == final.output_text == '[sandbox] You said: "streamed"'
    assert client.responses.retrieve(whole.id).output_text == whole.output_text


def test_sdk_responses_parse_with_a_pydantic_model(client, stack):
    parsed = client.responses.parse(model=stack.demo["model"], input="Ada", text_format=Person)

    assert isinstance(parsed.output_parsed, Person)


def test_sdk_three_turn_conversation_through_previous_response_id(client, stack):
    first = client.responses.create(model=stack.demo["model"], input="My name is Ada.")
    second = client.responses.create(model=stack.demo["model"], input="Who am I?", previous_response_id=first.id)
    third = client.responses.create(model=stack.demo["model"], input="Again?", previous_response_id=second.id)

    items = client.responses.input_items.list(third.id, order="asc").data
    assert [item.content[0].text for item in items if item.role == "user"] == ["My name is Ada.", "Who am I?", "Again?"]
    client.responses.delete(third.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(third.id)


def test_langchain_with_the_responses_api(stack):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        model=stack.demo["model"],
        base_url=stack.base_url + "/v1",
        api_key=stack.demo["api_key"],
        max_retries=0,
        use_responses_api=True,
    )

    assert llm.invoke("hello").text == '[sandbox] You said: "hello"'


def test_openai_agents_sdk_runs_an_agent_with_a_function_tool_to_completion(stack):
    from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled

    set_tracing_disabled(True)

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    model = OpenAIResponsesModel(
        model=stack.demo["model"],
        openai_client=openai.AsyncOpenAI(base_url=stack.base_url + "/v1", api_key=stack.demo["api_key"]),
    )
    agent = Agent(name="weather", instructions="Use the tools.", tools=[get_weather], model=model)

    result = Runner.run_sync(agent, "get_weather city=Paris")

    assert "sunny in Paris" in result.final_output
