"""Scopes only tighten: the effective policy, and the check that refuses a loosening candidate.

`merge(baseline, *lower)` combines the central baseline with LOB and use-case policies. For every
(check, direction) it keeps the strictest of each setting: the strongest action, the lowest
threshold, the union of entities, words and topics, the smallest size limits. A rule that exists
in only one scope is kept as it is, so a lower scope can add checks but never remove one.

`validate_tightening(base, candidate)` names every setting of `candidate` that is looser than the
same rule in `base`, so a LOB or use-case policy can be refused when saved. A rule `candidate`
leaves out is inherited from `base`, not loosened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .policy import CheckRule, CustomEntity, DeniedTopic, GuardrailPolicy, OnError, PolicyError, Scope, strongest


@dataclass(frozen=True)
class Violation:
    """One setting of a candidate policy that is looser than its base."""

    rule: str  # "pii/input"
    field: str  # "action", "threshold", "entities", ...
    base: Any
    candidate: Any
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "field": self.field,
            "base": self.base,
            "candidate": self.candidate,
            "message": self.message,
        }


def merge(baseline: GuardrailPolicy, *lower: GuardrailPolicy) -> GuardrailPolicy:
    """The effective policy: `baseline` tightened by each lower-scope policy in turn."""
    rules = {rule.key: rule for rule in baseline.rules}
    for policy in lower:
        for rule in policy.rules:
            rules[rule.key] = merge_rule(rules[rule.key], rule) if rule.key in rules else rule
    sources: list[str] = []
    for policy in (baseline, *lower):
        sources.extend(policy.sources or (f"{policy.scope.value}:{policy.name}@v{policy.version}",))
    return GuardrailPolicy(
        name="+".join(policy.name for policy in (baseline, *lower)),
        scope=Scope.EFFECTIVE,
        rules=tuple(rules.values()),
        version=1,
        sources=tuple(sources),
        # A failing check blocks unless every scope lets it through flagged.
        on_error=(OnError.FLAG if all(p.on_error is OnError.FLAG for p in (baseline, *lower)) else OnError.BLOCK),
    )


def merge_rule(base: CheckRule, other: CheckRule) -> CheckRule:
    """The strictest combination of two rules for the same check and direction."""
    if base.key != other.key:
        raise PolicyError(f"cannot merge rule {base.label} with rule {other.label}")
    thresholds = [value for value in (base.effective_threshold, other.effective_threshold) if value is not None]
    return CheckRule(
        check=base.check,
        direction=base.direction,
        action=strongest(base.action, other.action),
        threshold=min(thresholds) if thresholds and (base.threshold, other.threshold) != (None, None) else None,
        entities=base.entities + other.entities,
        custom_entities=_merge_custom_entities(base.custom_entities, other.custom_entities),
        words=base.words + other.words,
        topics=_merge_topics(base.topics, other.topics),
        max_chars=_smallest(base.max_chars, other.max_chars),
        max_tokens=_smallest(base.max_tokens, other.max_tokens),
    )


def validate_tightening(base: GuardrailPolicy, candidate: GuardrailPolicy) -> list[Violation]:
    """Every setting in `candidate` looser than `base`; empty when `candidate` only tightens."""
    violations: list[Violation] = []
    if base.on_error is OnError.BLOCK and candidate.on_error is OnError.FLAG:
        message = "on_error flag is weaker than block: a failing check would let the call through"
        violations.append(Violation("policy", "on_error", "block", "flag", message))
    for rule in candidate.rules:
        parent = base.rule(*rule.key)
        if parent is not None:
            violations.extend(rule_violations(parent, rule))
    return violations


def rule_violations(base: CheckRule, candidate: CheckRule) -> list[Violation]:
    found: list[Violation] = []
    label = candidate.label

    def add(field: str, base_value: Any, candidate_value: Any, message: str) -> None:
        found.append(Violation(label, field, base_value, candidate_value, f"rule {label}: {message}"))

    if not candidate.action.at_least(base.action):
        add(
            "action",
            base.action.value,
            candidate.action.value,
            f"action {candidate.action} is weaker than {base.action}",
        )
    base_threshold, candidate_threshold = base.effective_threshold, candidate.effective_threshold
    if base_threshold is not None and candidate_threshold is not None and candidate_threshold > base_threshold:
        add(
            "threshold",
            base_threshold,
            candidate_threshold,
            f"threshold {candidate_threshold} is above {base_threshold}",
        )
    missing = sorted(set(base.entities) - set(candidate.entities))
    if missing:
        add("entities", list(base.entities), list(candidate.entities), f"drops entities {missing}")
    candidate_entities = {entity.name: entity for entity in candidate.custom_entities}
    for entity in base.custom_entities:
        mine = candidate_entities.get(entity.name)
        if mine is None:
            add("custom_entities", entity.name, None, f"drops custom entity {entity.name}")
        elif mine.pattern != entity.pattern:
            add("custom_entities", entity.pattern, mine.pattern, f"redefines custom entity {entity.name}")
        elif mine.score < entity.score:
            add("custom_entities", entity.score, mine.score, f"lowers the score of custom entity {entity.name}")
    missing = sorted(set(base.words) - set(candidate.words))
    if missing:
        add("words", len(base.words), len(candidate.words), f"drops {len(missing)} denied word(s)")
    candidate_topics = {topic.name: topic for topic in candidate.topics}
    for topic in base.topics:
        mine = candidate_topics.get(topic.name)
        if mine is None:
            add("topics", topic.name, None, f"drops denied topic {topic.name!r}")
        elif not set(topic.examples) <= set(mine.examples) or mine.description != topic.description:
            add("topics", topic.name, topic.name, f"changes denied topic {topic.name!r} (only examples may be added)")
    for field in ("max_chars", "max_tokens"):
        base_limit, candidate_limit = getattr(base, field), getattr(candidate, field)
        if base_limit is not None and (candidate_limit is None or candidate_limit > base_limit):
            shown = "no limit" if candidate_limit is None else candidate_limit
            add(field, base_limit, candidate_limit, f"{field} {shown} is above {base_limit}")
    return found


def _smallest(left: int | None, right: int | None) -> int | None:
    limits = [value for value in (left, right) if value is not None]
    return min(limits) if limits else None


def _merge_custom_entities(base: tuple[CustomEntity, ...], other: tuple[CustomEntity, ...]) -> tuple[CustomEntity, ...]:
    # The upper scope's definition wins a name clash; validate_tightening reports the clash.
    merged = {entity.name: entity for entity in other}
    for entity in base:
        mine = merged.get(entity.name)
        score = entity.score if mine is None or mine.pattern != entity.pattern else max(entity.score, mine.score)
        merged[entity.name] = CustomEntity(entity.name, entity.pattern, score)
    return tuple(merged.values())


def _merge_topics(base: tuple[DeniedTopic, ...], other: tuple[DeniedTopic, ...]) -> tuple[DeniedTopic, ...]:
    merged = {topic.name: topic for topic in other}
    for topic in base:
        mine = merged.get(topic.name)
        examples = topic.examples + (mine.examples if mine else ())
        merged[topic.name] = DeniedTopic(topic.name, topic.description, examples)
    return tuple(merged.values())
