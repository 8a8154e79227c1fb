import pytest

from governance.guardrails import PII_ENTITIES, Action, Check, Direction, StreamingGuard

from .conftest import policy, rule

OUTPUT_MASK = policy(
    rule(Check.PII, Action.MASK, Direction.OUTPUT, entities=PII_ENTITIES),
    rule(Check.SECRETS, Action.MASK, Direction.OUTPUT),
)
FILLER = "This sentence is harmless filler text that streams by. " * 6


def stream(guard: StreamingGuard, chunks: list[str]) -> str:
    released = [guard.feed(chunk) for chunk in chunks]
    if not guard.blocked:
        released.append(guard.finish())
    return "".join(released)


def chunked(text: str, size: int) -> list[str]:
    return [text[index : index + size] for index in range(0, len(text), size)]


def test_an_email_split_across_two_chunks_is_masked_whole(engine):
    guard = StreamingGuard(OUTPUT_MASK, engine=engine, window=64)

    out = stream(guard, [FILLER + "Write to jane.do", "e@example.com for help. " + FILLER])

    assert "<EMAIL_1>" in out
    assert "jane" not in out and "example.com" not in out


def test_identifiers_split_at_every_position_never_leak(engine):
    text = FILLER + "card 4111 1111 1111 1111 and mail jane.doe@example.com. " + FILLER
    for size in (1, 3, 7, 16, 50):
        out = stream(StreamingGuard(OUTPUT_MASK, engine=engine, window=64), chunked(text, size))

        assert "4111" not in out and "jane.doe" not in out, size
        assert out.count("<CREDIT_CARD_1>") == 1 and out.count("<EMAIL_1>") == 1, size


def test_safe_text_is_released_as_it_streams_holding_back_at_most_the_window(engine):
    guard = StreamingGuard(OUTPUT_MASK, engine=engine, window=64)
    released = ""
    for chunk in chunked(FILLER * 3, 10):
        released += guard.feed(chunk)
        assert guard.held_back <= 64

    assert len(released) >= len(FILLER * 3) - 64
    assert released + guard.finish() == FILLER * 3


def test_a_block_ends_the_stream_with_a_final_error_event(engine):
    blocking = policy(rule(Check.PII, Action.BLOCK, Direction.OUTPUT, entities=("US_SSN",)))
    guard = StreamingGuard(blocking, engine=engine, window=32)

    out = stream(guard, [FILLER, "Her SSN is 536-90-", "4399. ", FILLER])

    assert guard.blocked and guard.blocked_by is Check.PII
    assert "536-90" not in out
    assert guard.error_event["error"]["code"] == "output_blocked"
    assert guard.feed("more text") == ""


@pytest.mark.parametrize("size", [3, 7, 24, 61])
def test_a_private_key_is_suppressed_through_its_end_line(engine, size):
    key = "-----BEGIN RSA PRIVATE KEY-----\n" + ("MIIEowIBAAKCAQEA7V1x3b2mYl2LzQ0hPqXyZ0123456789abcdef\n" * 20)
    text = FILLER + key + "-----END RSA PRIVATE KEY-----\nDone. " + FILLER

    out = stream(StreamingGuard(OUTPUT_MASK, engine=engine, window=64), chunked(text, size))

    assert "MIIE" not in out and "<PRIVATE_KEY_1>" in out
    assert out.endswith("Done. " + FILLER)


def test_the_stream_result_summarises_findings_without_values(engine):
    guard = StreamingGuard(OUTPUT_MASK, engine=engine, window=32)
    stream(guard, chunked(FILLER + "mail jane@example.com. " + FILLER, 9))

    result = guard.result()

    assert result.actions == {Check.PII: Action.MASK}
    assert "jane" not in str(result.to_dict())
    assert "<EMAIL_1>" in result.text


def test_grounding_runs_on_the_whole_answer_at_finish(engine):
    grounded = policy(rule(Check.GROUNDING, Action.FLAG, Direction.OUTPUT))
    context = "The battery lasts 14 hours. Charging takes 2 hours."
    guard = StreamingGuard(grounded, engine=engine, context=context, window=16)

    stream(guard, chunked("The battery lasts 14 hours. It also includes a free stylus and case.", 5))

    assert guard.result().actions == {Check.GROUNDING: Action.FLAG}


def test_an_output_size_limit_ends_the_stream(engine):
    limited = policy(rule(Check.SIZE, Action.BLOCK, Direction.OUTPUT, max_chars=100))
    guard = StreamingGuard(limited, engine=engine)

    stream(guard, chunked("x" * 150, 20))

    assert guard.blocked_by is Check.SIZE
