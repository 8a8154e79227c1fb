"""Server-sent events as the OpenAI-wire adapters read them (providers/_openai_wire.py `_sse_data`):
the event stream format of the HTML standard, as far as chat completion streams use it."""

from __future__ import annotations

from genai_platform.providers._openai_wire import _sse_data


def events(*lines: str) -> list[str]:
    return list(_sse_data(iter(lines)))


def test_each_blank_line_ends_one_event():
    assert events('data: {"a": 1}', "", 'data: {"b": 2}', "") == ['{"a": 1}', '{"b": 2}']


def test_the_data_lines_of_one_event_are_joined_with_newlines():
    assert events("data: first", "data: second", "") == ["first\nsecond"]


def test_comments_event_names_and_ids_carry_no_data():
    assert events(": keep-alive", "event: message", "id: 7", "retry: 100", "data: x", "") == ["x"]


def test_a_single_space_after_the_colon_is_not_part_of_the_data():
    assert events("data:x", "", "data:  y", "") == ["x", " y"]


def test_blank_lines_without_data_dispatch_nothing():
    assert events("", "", ": ping", "", "data: x", "") == ["x"]


def test_a_stream_closed_without_the_final_blank_line_still_yields_its_last_event():
    assert events("data: x", "", "data: [DONE]") == ["x", "[DONE]"]
