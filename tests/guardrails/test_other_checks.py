# ruff: noqa: RUF001  (look-alike letters are what these tests feed the detectors)
"""Denied words, denied topics, size limits and grounding."""

import pytest

from genai_platform.providers.tokens import estimate_tokens
from governance.guardrails import Action, Check, DeniedTopic, Direction

from .conftest import INVESTMENT, policy, rule

WORDS = rule(Check.DENIED_WORDS, Action.MASK, words=("project falcon", "bluebird"))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("status of Project Falcon?", "Project Falcon"),
        ("status of PROJECT-falcon?", "PROJECT-falcon"),
        ("is prоject fаlcon late", "prоject fаlcon"),  # Cyrillic o and a
        ("pr0ject f4lc0n budget", "pr0ject f4lc0n"),
        ("the blue\u200bbird roadmap", "blue\u200bbird"),
        ("b l u e b i r d plan", "b l u e b i r d"),
    ],
)
def test_denied_words_match_whole_words_through_obfuscation(engine, text, value):
    findings = engine.detect(text, WORDS).findings

    assert [text[f.start : f.end] for f in findings] == [value]


@pytest.mark.parametrize("text", ["falconry is old", "bluebirds migrate", "the project was a success"])
def test_denied_words_do_not_match_inside_other_words(engine, text):
    assert engine.detect(text, WORDS).findings == ()


def test_a_masked_denied_word_is_replaced_in_the_forwarded_text(engine):
    result = engine.evaluate("Ship Project Falcon now", policy(WORDS), Direction.INPUT)

    assert result.text == "Ship <DENIED_WORD_1> now"


TOPICS = rule(Check.DENIED_TOPICS, Action.FLAG, topics=(INVESTMENT,))


@pytest.mark.parametrize("text", ["Which tech stocks should I buy this month?", "Hello. Should I sell my shares now?"])
def test_a_prompt_reusing_a_topics_example_words_is_flagged(engine, text):
    (finding,) = engine.detect(text, TOPICS).findings

    assert finding.entity_type == "TOPIC:investment_advice"
    assert finding.score >= 0.6


@pytest.mark.parametrize("text", ["Explain how the stock market works.", "Write a poem about the sea."])
def test_a_prompt_sharing_only_a_word_with_the_topic_is_not_flagged(engine, text):
    assert engine.detect(text, TOPICS).findings == ()


def test_a_topic_without_usable_examples_matches_through_its_description(engine):
    topic = DeniedTopic("weapons", "building weapons at home")

    assert engine.detect(
        "guide to building weapons at home", rule(Check.DENIED_TOPICS, Action.FLAG, topics=(topic,))
    ).findings


def test_size_blocks_over_the_character_limit(engine):
    result = engine.evaluate("x" * 101, policy(rule(Check.SIZE, Action.BLOCK, max_chars=100)), Direction.INPUT)

    assert result.blocked and result.blocked_by is Check.SIZE
    assert result.outcome(Check.SIZE).findings[0].detail == "chars 101 > 100"


def test_size_counts_tokens_as_the_platform_estimates_them(engine):
    text = "word " * 50
    limit = estimate_tokens(text) - 1

    detection = engine.detect(text, rule(Check.SIZE, Action.BLOCK, max_tokens=limit))

    assert [f.entity_type for f in detection.findings] == ["MAX_TOKENS"]
    assert engine.detect(text, rule(Check.SIZE, Action.BLOCK, max_tokens=limit + 1)).findings == ()


CONTEXT = (
    "The Model X200 battery lasts 14 hours on a full charge. Charging from empty takes 2 hours with the "
    "65W adapter. The device weighs 1.2 kg."
)
GROUNDING = rule(Check.GROUNDING, Action.FLAG, Direction.OUTPUT)


def test_grounding_flags_the_answer_sentence_the_context_does_not_support(engine):
    answer = "The X200 battery lasts 14 hours on a full charge. It also ships with a free stylus and a warranty."

    (finding,) = engine.detect(answer, GROUNDING, CONTEXT).findings

    assert answer[finding.start : finding.end] == "It also ships with a free stylus and a warranty."


def test_grounding_treats_an_invented_number_as_unsupported(engine):
    assert engine.detect("The X200 battery lasts 30 hours on a full charge.", GROUNDING, CONTEXT).findings


def test_grounding_accepts_an_answer_drawn_from_the_context(engine):
    answer = "Charging from empty takes 2 hours with the 65W adapter, and the device weighs 1.2 kg."

    assert engine.detect(answer, GROUNDING, CONTEXT).findings == ()


def test_grounding_does_not_run_without_context(engine):
    detection = engine.detect("Anything at all can be said here.", GROUNDING, None)

    assert (detection.findings, detection.detector) == ((), "skipped:no-context")
