"""Scopes only tighten: merge never loosens, and validate_tightening names every loosening."""

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.guardrails import (
    DEFAULT_THRESHOLDS,
    PII_ENTITIES,
    Action,
    Check,
    CheckRule,
    CustomEntity,
    DeniedTopic,
    Direction,
    GuardrailPolicy,
    Scope,
    merge,
    merge_rule,
    validate_tightening,
)

from .conftest import policy, rule

ACTIONS_BY_CHECK = {
    check: [Action.FLAG, Action.MASK, Action.BLOCK]
    if check in (Check.PII, Check.SECRETS, Check.DENIED_WORDS)
    else [Action.FLAG, Action.QUOTE, Action.DROP, Action.BLOCK]
    if check is Check.INDIRECT_INJECTION
    else [Action.FLAG, Action.BLOCK]
    for check in Check
}
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "project falcon"]
TOPIC_NAMES = ["investing", "medical", "legal"]
EXAMPLES = ["buy stocks now", "which crypto", "diagnose symptoms", "sue my landlord", "take ibuprofen"]
CUSTOM = [CustomEntity("EMPLOYEE_ID", r"EMP-\d{6}"), CustomEntity("TICKET", r"TK-\d{4}", 0.7)]

thresholds = st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0, allow_nan=False).map(lambda x: round(x, 2)))
limits = st.one_of(st.none(), st.integers(min_value=1, max_value=100_000))


@st.composite
def rules(draw, check=None, direction=None):
    check = draw(st.sampled_from(list(Check))) if check is None else check
    if check is Check.GROUNDING:
        direction = Direction.OUTPUT
    elif check is Check.INDIRECT_INJECTION:
        direction = Direction.INPUT
    elif direction is None:
        direction = draw(st.sampled_from(list(Direction)))
    fields = {"action": draw(st.sampled_from(ACTIONS_BY_CHECK[check]))}
    if check in DEFAULT_THRESHOLDS:
        fields["threshold"] = draw(thresholds)
    if check is Check.PII:
        fields["entities"] = tuple(draw(st.lists(st.sampled_from(PII_ENTITIES), min_size=1, unique=True)))
        fields["custom_entities"] = tuple(draw(st.lists(st.sampled_from(CUSTOM), unique_by=lambda e: e.name)))
    if check is Check.DENIED_WORDS:
        fields["words"] = tuple(draw(st.lists(st.sampled_from(WORDS), min_size=1, unique=True)))
    if check is Check.DENIED_TOPICS:
        names = draw(st.lists(st.sampled_from(TOPIC_NAMES), min_size=1, unique=True))
        fields["topics"] = tuple(
            DeniedTopic(name, f"about {name}", tuple(draw(st.lists(st.sampled_from(EXAMPLES), min_size=1))))
            for name in names
        )
    if check is Check.SIZE:
        max_chars, max_tokens = draw(limits), draw(limits)
        if max_chars is None and max_tokens is None:
            max_chars = draw(st.integers(min_value=1, max_value=100_000))
        fields.update(max_chars=max_chars, max_tokens=max_tokens)
    return CheckRule(check=check, direction=direction, **fields)


@st.composite
def policies(draw, scope=Scope.CENTRAL):
    drawn = draw(st.lists(rules(), max_size=len(Check) * 2, unique_by=lambda item: item.key))
    return GuardrailPolicy(name=scope.value, scope=scope, rules=tuple(drawn))


def assert_at_least_as_tight(base: CheckRule, effective: CheckRule) -> None:
    """An independent statement of 'not looser', field by field."""
    assert effective.action.rank >= base.action.rank
    if base.effective_threshold is not None:
        assert effective.effective_threshold <= base.effective_threshold
    assert set(base.entities) <= set(effective.entities)
    assert set(base.words) <= set(effective.words)
    for entity in base.custom_entities:
        mine = {item.name: item for item in effective.custom_entities}[entity.name]
        assert mine.pattern == entity.pattern and mine.score >= entity.score
    for topic in base.topics:
        mine = {item.name: item for item in effective.topics}[topic.name]
        assert set(topic.examples) <= set(mine.examples) and mine.description == topic.description
    for field in ("max_chars", "max_tokens"):
        if getattr(base, field) is not None:
            assert getattr(effective, field) is not None and getattr(effective, field) <= getattr(base, field)


# database=None: no .hypothesis folder is written into the checkout.
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(policies(), policies(Scope.LOB), policies(Scope.USE_CASE))
def test_merge_never_loosens_the_baseline_whatever_the_lower_scopes_say(baseline, lob, use_case):
    effective = merge(baseline, lob, use_case)

    for base_rule in baseline.rules:
        assert_at_least_as_tight(base_rule, effective.rule(*base_rule.key))
    for lower_rule in (*lob.rules, *use_case.rules):
        assert effective.rule(*lower_rule.key) is not None
    assert validate_tightening(baseline, effective) == []


@PROPERTY_SETTINGS
@given(policies(), policies(Scope.LOB))
def test_the_effective_policy_is_at_least_as_tight_as_each_lower_scope_too(baseline, lob):
    effective = merge(baseline, lob)

    for lower_rule in lob.rules:
        merged = effective.rule(*lower_rule.key)
        assert merged.action.rank >= lower_rule.action.rank
        assert set(lower_rule.entities) <= set(merged.entities)
        assert set(lower_rule.words) <= set(merged.words)


def _loosenings(base: CheckRule) -> list[tuple[str, CheckRule]]:
    """Every single-field change of `base` that loosens it, with the field it touches."""
    found = []
    weaker = [action for action in ACTIONS_BY_CHECK[base.check] if action.rank < base.action.rank]
    found += [("action", replace(base, action=action)) for action in weaker]
    if base.effective_threshold is not None and base.effective_threshold < 1.0:
        found.append(("threshold", replace(base, threshold=min(1.0, base.effective_threshold + 0.05))))
    if len(base.entities) > 1:
        found.append(("entities", replace(base, entities=base.entities[1:])))
    if base.custom_entities:
        found.append(("custom_entities", replace(base, custom_entities=base.custom_entities[1:])))
    if len(base.words) > 1:
        found.append(("words", replace(base, words=base.words[1:])))
    if len(base.topics) > 1:
        found.append(("topics", replace(base, topics=base.topics[1:])))
    for field in ("max_chars", "max_tokens"):
        value = getattr(base, field)
        if value is not None:
            found.append((field, replace(base, **{field: value + 1})))
            other = "max_tokens" if field == "max_chars" else "max_chars"
            if getattr(base, other) is not None:
                found.append((field, replace(base, **{field: None})))
    return found


@PROPERTY_SETTINGS
@given(rules(), st.data())
def test_validate_tightening_names_every_loosening(base_rule, data):
    loosenings = _loosenings(base_rule)
    if not loosenings:
        return
    field, loosened = data.draw(st.sampled_from(loosenings))

    violations = validate_tightening(policy(base_rule), policy(loosened, scope=Scope.LOB))

    assert any(v.rule == base_rule.label and v.field == field for v in violations), (field, violations)
    assert all(base_rule.label in v.message for v in violations)


@PROPERTY_SETTINGS
@given(rules(), st.data())
def test_a_candidate_passes_validation_exactly_when_merging_it_changes_nothing(base_rule, data):
    candidate = data.draw(rules(check=base_rule.check, direction=base_rule.direction))

    merged = merge_rule(base_rule, candidate)
    unchanged = replace(merged, threshold=merged.effective_threshold) == replace(
        candidate, threshold=candidate.effective_threshold
    )

    assert (validate_tightening(policy(base_rule), policy(candidate)) == []) == unchanged


def test_merge_takes_the_strictest_of_each_setting():
    central = policy(
        rule(Check.PII, Action.MASK, threshold=0.5, entities=("EMAIL_ADDRESS",)),
        rule(Check.SIZE, Action.BLOCK, max_chars=8000),
    )
    lob = policy(
        rule(Check.PII, Action.BLOCK, threshold=0.3, entities=("US_SSN",)),
        rule(Check.SIZE, Action.BLOCK, max_chars=4000, max_tokens=1000),
        scope=Scope.LOB,
    )

    effective = merge(central, lob)

    pii = effective.rule(Check.PII, Direction.INPUT)
    assert (pii.action, pii.threshold, pii.entities) == (Action.BLOCK, 0.3, ("EMAIL_ADDRESS", "US_SSN"))
    size = effective.rule(Check.SIZE, Direction.INPUT)
    assert (size.max_chars, size.max_tokens) == (4000, 1000)
    assert effective.scope is Scope.EFFECTIVE
    assert effective.sources == ("central:test@v1", "lob:test@v1")


def test_a_lower_scope_that_tries_to_loosen_is_merged_as_if_it_had_not():
    central = policy(rule(Check.INJECTION, Action.BLOCK, threshold=0.4))
    lob = policy(rule(Check.INJECTION, Action.FLAG, threshold=0.9), scope=Scope.LOB)

    effective = merge(central, lob).rule(Check.INJECTION, Direction.INPUT)

    assert (effective.action, effective.threshold) == (Action.BLOCK, 0.4)


def test_validate_tightening_explains_each_loosening_by_rule_and_field():
    central = policy(rule(Check.INJECTION, Action.BLOCK, threshold=0.4), rule(Check.SIZE, Action.BLOCK, max_chars=4000))
    lob = policy(
        rule(Check.INJECTION, Action.FLAG, threshold=0.6),
        rule(Check.SIZE, Action.BLOCK, max_chars=9000),
        scope=Scope.LOB,
    )

    violations = validate_tightening(central, lob)

    assert [(v.rule, v.field) for v in violations] == [
        ("injection/input", "action"),
        ("injection/input", "threshold"),
        ("size/input", "max_chars"),
    ]
    assert violations[0].message == "rule injection/input: action flag is weaker than block"


def test_a_rule_left_out_by_the_candidate_is_inherited_not_a_violation():
    central = policy(rule(Check.SECRETS, Action.BLOCK))

    assert validate_tightening(central, policy(scope=Scope.LOB)) == []
    assert merge(central, policy(scope=Scope.LOB)).rule(Check.SECRETS, Direction.INPUT).action is Action.BLOCK


def test_redefining_a_custom_entity_is_a_violation_and_the_baseline_definition_stays():
    central = policy(rule(Check.PII, custom_entities=(CustomEntity("EMPLOYEE_ID", r"EMP-\d{6}"),)))
    lob = policy(rule(Check.PII, custom_entities=(CustomEntity("EMPLOYEE_ID", r"E\d{3}"),)), scope=Scope.LOB)

    assert [v.field for v in validate_tightening(central, lob)] == ["custom_entities"]
    merged = merge(central, lob).rule(Check.PII, Direction.INPUT)
    assert merged.custom_entities == (CustomEntity("EMPLOYEE_ID", r"EMP-\d{6}"),)
