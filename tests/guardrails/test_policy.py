import json

import pytest

from governance.guardrails import (
    PII_ENTITIES,
    Action,
    Check,
    CustomEntity,
    DeniedTopic,
    Direction,
    GuardrailPolicy,
    PolicyError,
    Scope,
)

from .conftest import INVESTMENT, policy, rule


def test_a_policy_survives_its_json_form_unchanged(full_policy):
    stored = full_policy.to_json()

    assert GuardrailPolicy.from_json(stored) == full_policy
    assert GuardrailPolicy.from_json(stored).to_json() == stored


def test_the_json_form_is_stable_whatever_the_order_of_rules_and_lists():
    first = policy(
        rule(Check.PII, entities=("US_SSN", "EMAIL_ADDRESS")),
        rule(Check.DENIED_WORDS, words=("b", "a")),
    )
    second = policy(
        rule(Check.DENIED_WORDS, words=("a", "b", "A")),
        rule(Check.PII, entities=("EMAIL_ADDRESS", "US_SSN")),
    )

    assert first.to_json() == second.to_json()
    assert first.fingerprint() == second.fingerprint()


def test_the_json_form_leaves_out_fields_a_check_does_not_read():
    stored = rule(Check.INJECTION, Action.BLOCK).to_dict()

    assert stored == {"check": "injection", "direction": "input", "action": "block"}


def test_custom_entities_and_topics_round_trip():
    original = policy(
        rule(Check.PII, custom_entities=(CustomEntity("EMPLOYEE_ID", r"\bEMP-\d{6}\b", 0.8),)),
        rule(Check.DENIED_TOPICS, Action.FLAG, topics=(INVESTMENT,)),
    )

    assert GuardrailPolicy.from_dict(json.loads(original.to_json())) == original


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: rule(Check.INJECTION, Action.MASK), "mask is only meaningful"),
        (lambda: rule(Check.PII, threshold=1.5, entities=PII_ENTITIES), "threshold must be between"),
        (lambda: rule(Check.SECRETS, threshold=0.3), "takes no threshold"),
        (lambda: rule(Check.PII, entities=("SHOE_SIZE",)), "unknown entities"),
        (lambda: rule(Check.SIZE, Action.BLOCK), "needs max_chars or max_tokens"),
        (lambda: rule(Check.INJECTION, Action.BLOCK, words=("x",)), "words is not read"),
        (lambda: rule(Check.GROUNDING, Action.FLAG, Direction.INPUT), "output direction only"),
        (lambda: CustomEntity("employee id", "x"), "UPPER_SNAKE_CASE"),
        (lambda: CustomEntity("EMPLOYEE_ID", "("), "invalid pattern"),
        (lambda: CustomEntity("EMPLOYEE_ID", "x*"), "matches the empty string"),
        (lambda: DeniedTopic("empty", ""), "needs a description or examples"),
    ],
)
def test_an_invalid_rule_is_refused_with_a_message_naming_it(build, message):
    with pytest.raises(PolicyError, match=message):
        build()


def test_two_rules_for_the_same_check_and_direction_are_refused():
    with pytest.raises(PolicyError, match="more than one rule"):
        policy(rule(Check.SECRETS), rule(Check.SECRETS, Action.BLOCK))


def test_unknown_fields_in_a_stored_policy_are_refused_rather_than_ignored():
    stored = policy(rule(Check.SECRETS)).to_dict()
    stored["rules"][0]["treshold"] = 0.1

    with pytest.raises(PolicyError, match="unknown fields"):
        GuardrailPolicy.from_dict(stored)


def test_with_rules_replaces_the_rule_for_the_same_check_and_direction():
    base = policy(rule(Check.SECRETS, Action.FLAG))

    updated = base.with_rules(rule(Check.SECRETS, Action.BLOCK))

    assert updated.rule(Check.SECRETS, Direction.INPUT).action is Action.BLOCK
    assert updated.scope is Scope.CENTRAL
