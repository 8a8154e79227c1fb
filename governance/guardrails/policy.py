"""Guardrail policies as data: frozen dataclasses with a stable JSON form.

A policy is a set of rules, at most one per (check, direction). Every rule has an action
(`flag` < `mask` < `block`) and the parameters its check reads; parameters a check does not read
must stay empty, so that a stored policy never carries a setting that silently does nothing.

Every numeric threshold means the same thing: a finding fires when its score is at least the
threshold, so a lower threshold is stricter. Size limits are maxima, so smaller is stricter.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 1


class Action(StrEnum):
    FLAG = "flag"
    QUOTE = "quote"  # indirect_injection: the item reaches the model wrapped as quoted data
    MASK = "mask"
    DROP = "drop"  # indirect_injection: the item never reaches the model
    BLOCK = "block"

    @property
    def rank(self) -> int:
        return _ACTION_RANK[self]

    def at_least(self, other: Action) -> bool:
        return self.rank >= other.rank


_ACTION_RANK = {Action.FLAG: 0, Action.QUOTE: 1, Action.MASK: 2, Action.DROP: 3, Action.BLOCK: 4}


def strongest(*actions: Action) -> Action:
    return max(actions, key=lambda action: action.rank)


class Direction(StrEnum):
    INPUT = "input"
    OUTPUT = "output"


class Check(StrEnum):
    PII = "pii"
    SECRETS = "secrets"
    INJECTION = "injection"
    DENIED_WORDS = "denied_words"
    DENIED_TOPICS = "denied_topics"
    SIZE = "size"
    GROUNDING = "grounding"
    # Instructions inside retrieved chunks, tool results and ingested documents (not the user's
    # own words): checked item by item by `context.screen_items`, never by `evaluate`.
    INDIRECT_INJECTION = "indirect_injection"


class OnError(StrEnum):
    """What a check that fails (raises, or overruns its time) does to the call. `block` is the
    default and the stricter; `flag` lets the call through, but the failure is still recorded,
    counted and alerted on: no setting makes a failure silent."""

    BLOCK = "block"
    FLAG = "flag"


class Scope(StrEnum):
    CENTRAL = "central"
    LOB = "lob"
    USE_CASE = "use_case"
    EFFECTIVE = "effective"


# Checks whose findings are spans of the text that can be replaced by a placeholder.
MASKABLE_CHECKS = frozenset({Check.PII, Check.SECRETS, Check.DENIED_WORDS})
# Checks that read a threshold, with the threshold used when a rule leaves it unset.
DEFAULT_THRESHOLDS: dict[Check, float] = {
    Check.PII: 0.4,
    Check.INJECTION: 0.5,
    Check.DENIED_TOPICS: 0.6,
    Check.GROUNDING: 0.4,
    Check.INDIRECT_INJECTION: 0.5,
}
# Actions that only the item-by-item check of context can take.
CONTEXT_ACTIONS = frozenset({Action.QUOTE, Action.DROP})
# Presidio entity types of the structured identifiers this engine recognizes.
PII_ENTITIES = ("CREDIT_CARD", "EMAIL_ADDRESS", "IBAN_CODE", "IP_ADDRESS", "PHONE_NUMBER", "US_SSN")
# Named entities from the packaged NER model (loaded only by a process whose policy asks for one).
NAMED_ENTITIES = ("LOCATION", "ORGANIZATION", "PERSON")
ADDRESS_ENTITIES = ("STREET_ADDRESS", "UK_POSTCODE", "US_ZIP_CODE")
IDENTITY_DOCUMENT_ENTITIES = (
    "DE_TAX_ID",
    "DRIVER_LICENSE",
    "ES_NIE",
    "ES_NIF",
    "FI_PERSONAL_IDENTITY_CODE",
    "IT_FISCAL_CODE",
    "PASSPORT",
    "PL_PESEL",
    "UK_DRIVING_LICENCE",
    "UK_NHS",
    "UK_NINO",
    "UK_PASSPORT",
    "US_ITIN",
    "US_PASSPORT",
)
#: Every entity type a pii rule may name.
KNOWN_PII_ENTITIES = (
    *PII_ENTITIES,
    *NAMED_ENTITIES,
    *ADDRESS_ENTITIES,
    "DATE_OF_BIRTH",
    *IDENTITY_DOCUMENT_ENTITIES,
)

_ENTITY_NAME = re.compile(r"^[A-Z][A-Z0-9_]{1,47}$")


class PolicyError(ValueError):
    """A policy document that cannot be a valid policy; the message names the rule and field."""


@dataclass(frozen=True)
class CustomEntity:
    """A policy-defined identifier recognized by a regular expression (e.g. an employee number)."""

    name: str
    pattern: str
    score: float = 0.9

    def __post_init__(self) -> None:
        if not _ENTITY_NAME.match(self.name):
            raise PolicyError(f"custom entity name {self.name!r} must be UPPER_SNAKE_CASE")
        if self.name in KNOWN_PII_ENTITIES:
            raise PolicyError(f"custom entity name {self.name!r} shadows a built-in entity")
        try:
            compiled = re.compile(self.pattern)
        except re.error as exc:
            raise PolicyError(f"custom entity {self.name}: invalid pattern: {exc}") from exc
        if compiled.match(""):
            raise PolicyError(f"custom entity {self.name}: pattern matches the empty string")
        if not 0.0 < self.score <= 1.0:
            raise PolicyError(f"custom entity {self.name}: score must be in (0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "pattern": self.pattern, "score": self.score}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CustomEntity:
        _refuse_unknown(data, {"name", "pattern", "score"}, "custom entity")
        return cls(name=data["name"], pattern=data["pattern"], score=float(data.get("score", 0.9)))


@dataclass(frozen=True)
class DeniedTopic:
    """A topic the use case must not discuss, described in words and by example phrases."""

    name: str
    description: str
    examples: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise PolicyError("a denied topic needs a name")
        if not self.description.strip() and not self.examples:
            raise PolicyError(f"denied topic {self.name!r} needs a description or examples")
        object.__setattr__(self, "examples", tuple(sorted(set(self.examples))))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "examples": list(self.examples)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeniedTopic:
        _refuse_unknown(data, {"name", "description", "examples"}, "denied topic")
        return cls(name=data["name"], description=data.get("description", ""), examples=tuple(data.get("examples", ())))


@dataclass(frozen=True)
class CheckRule:
    """One check applied in one direction, with the action taken when it finds something.

    Collections are kept sorted and de-duplicated, so equal rules have equal JSON forms."""

    check: Check
    direction: Direction
    action: Action
    threshold: float | None = None
    entities: tuple[str, ...] = ()
    custom_entities: tuple[CustomEntity, ...] = ()
    words: tuple[str, ...] = ()
    topics: tuple[DeniedTopic, ...] = ()
    max_chars: int | None = None
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "check", Check(self.check))
        object.__setattr__(self, "direction", Direction(self.direction))
        object.__setattr__(self, "action", Action(self.action))
        object.__setattr__(self, "entities", tuple(sorted(set(self.entities))))
        object.__setattr__(self, "custom_entities", tuple(sorted(set(self.custom_entities), key=_entity_key)))
        words = {" ".join(word.lower().split()) for word in self.words}
        object.__setattr__(self, "words", tuple(sorted(word for word in words if word)))
        object.__setattr__(self, "topics", tuple(sorted(set(self.topics), key=_topic_key)))
        self._validate()

    @property
    def key(self) -> tuple[Check, Direction]:
        return (self.check, self.direction)

    @property
    def label(self) -> str:
        """How messages name this rule: `pii/input`."""
        return f"{self.check.value}/{self.direction.value}"

    @property
    def effective_threshold(self) -> float | None:
        if self.check not in DEFAULT_THRESHOLDS:
            return None
        return DEFAULT_THRESHOLDS[self.check] if self.threshold is None else self.threshold

    def _validate(self) -> None:
        def refuse(message: str) -> None:
            raise PolicyError(f"rule {self.label}: {message}")

        if self.action is Action.MASK and self.check not in MASKABLE_CHECKS:
            refuse("mask is only meaningful for pii, secrets and denied_words; use flag or block")
        if self.action in CONTEXT_ACTIONS and self.check is not Check.INDIRECT_INJECTION:
            refuse(f"{self.action.value} is only meaningful for indirect_injection")
        if self.check is Check.INDIRECT_INJECTION and self.direction is not Direction.INPUT:
            refuse("indirect_injection applies to the input direction only (what reaches the model)")
        if self.threshold is not None:
            if self.check not in DEFAULT_THRESHOLDS:
                refuse("this check takes no threshold")
            if not 0.0 <= self.threshold <= 1.0:
                refuse("threshold must be between 0 and 1")
        allowed = _FIELDS_BY_CHECK[self.check]
        for name in ("entities", "custom_entities", "words", "topics", "max_chars", "max_tokens"):
            if name not in allowed and getattr(self, name) not in ((), None):
                refuse(f"{name} is not read by this check")
        unknown = set(self.entities) - set(KNOWN_PII_ENTITIES)
        if unknown:
            refuse(f"unknown entities {sorted(unknown)}; known: {sorted(KNOWN_PII_ENTITIES)}")
        names = [entity.name for entity in self.custom_entities]
        if len(names) != len(set(names)):
            refuse("two custom entities share a name")
        if self.check is Check.PII and not self.entities and not self.custom_entities:
            refuse("a pii rule needs entities or custom_entities")
        if self.check is Check.DENIED_WORDS and not self.words:
            refuse("a denied_words rule needs words")
        if self.check is Check.DENIED_TOPICS and not self.topics:
            refuse("a denied_topics rule needs topics")
        if self.check is Check.SIZE:
            if self.max_chars is None and self.max_tokens is None:
                refuse("a size rule needs max_chars or max_tokens")
            for name in ("max_chars", "max_tokens"):
                value = getattr(self, name)
                if value is not None and (not isinstance(value, int) or value < 1):
                    refuse(f"{name} must be a positive integer")
        if self.check is Check.GROUNDING and self.direction is not Direction.OUTPUT:
            refuse("grounding applies to the output direction only")

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON form: fields the check does not read are left out."""
        data: dict[str, Any] = {
            "check": self.check.value,
            "direction": self.direction.value,
            "action": self.action.value,
        }
        if self.threshold is not None:
            data["threshold"] = self.threshold
        if self.entities:
            data["entities"] = list(self.entities)
        if self.custom_entities:
            data["custom_entities"] = [entity.to_dict() for entity in self.custom_entities]
        if self.words:
            data["words"] = list(self.words)
        if self.topics:
            data["topics"] = [topic.to_dict() for topic in self.topics]
        if self.max_chars is not None:
            data["max_chars"] = self.max_chars
        if self.max_tokens is not None:
            data["max_tokens"] = self.max_tokens
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckRule:
        _refuse_unknown(data, _RULE_KEYS, "rule")
        try:
            check, direction, action = Check(data["check"]), Direction(data["direction"]), Action(data["action"])
        except (KeyError, ValueError) as exc:
            raise PolicyError(f"rule {data!r}: check, direction and action are required and must be known") from exc
        threshold = data.get("threshold")
        return cls(
            check=check,
            direction=direction,
            action=action,
            threshold=None if threshold is None else float(threshold),
            entities=tuple(data.get("entities", ())),
            custom_entities=tuple(CustomEntity.from_dict(item) for item in data.get("custom_entities", ())),
            words=tuple(data.get("words", ())),
            topics=tuple(DeniedTopic.from_dict(item) for item in data.get("topics", ())),
            max_chars=data.get("max_chars"),
            max_tokens=data.get("max_tokens"),
        )


@dataclass(frozen=True)
class GuardrailPolicy:
    """The rules one scope (central baseline, a LOB, a use case) sets, or the merge of them.

    `sources` names the stored policies an effective policy was merged from (`name@vN`)."""

    name: str
    scope: Scope
    rules: tuple[CheckRule, ...] = ()
    version: int = 1
    sources: tuple[str, ...] = field(default=())
    on_error: OnError = OnError.BLOCK

    def __post_init__(self) -> None:
        object.__setattr__(self, "scope", Scope(self.scope))
        try:
            object.__setattr__(self, "on_error", OnError(self.on_error))
        except ValueError as exc:
            raise PolicyError(f"policy {self.name!r}: on_error must be block or flag") from exc
        keys = [rule.key for rule in self.rules]
        if len(keys) != len(set(keys)):
            raise PolicyError(f"policy {self.name!r}: more than one rule for the same check and direction")
        order = {check: index for index, check in enumerate(Check)}
        rules = sorted(self.rules, key=lambda rule: (order[rule.check], rule.direction.value))
        object.__setattr__(self, "rules", tuple(rules))

    def rule(self, check: Check, direction: Direction) -> CheckRule | None:
        for rule in self.rules:
            if rule.check is check and rule.direction is direction:
                return rule
        return None

    def rules_for(self, direction: Direction) -> tuple[CheckRule, ...]:
        return tuple(rule for rule in self.rules if rule.direction is direction)

    def with_rules(self, *rules: CheckRule) -> GuardrailPolicy:
        """A copy where each given rule replaces the rule for its (check, direction)."""
        replaced = {rule.key: rule for rule in self.rules} | {rule.key: rule for rule in rules}
        return replace(self, rules=tuple(replaced.values()))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "name": self.name,
            "scope": self.scope.value,
            "version": self.version,
            "rules": [rule.to_dict() for rule in self.rules],
        }
        if self.sources:
            data["sources"] = list(self.sources)
        if self.on_error is not OnError.BLOCK:  # the default is left out, so older documents keep their JSON
            data["on_error"] = self.on_error.value
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def fingerprint(self) -> str:
        """A digest of the rules alone: two policies that enforce the same thing share it."""
        enforced: list[Any] = [rule.to_dict() for rule in self.rules]
        if self.on_error is not OnError.BLOCK:
            enforced.append({"on_error": self.on_error.value})
        rules = json.dumps(enforced, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(rules.encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GuardrailPolicy:
        _refuse_unknown(data, {"schema", "name", "scope", "version", "rules", "sources", "on_error"}, "policy")
        if data.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise PolicyError(f"unsupported policy schema {data.get('schema')!r}")
        try:
            scope = Scope(data["scope"])
        except (KeyError, ValueError) as exc:
            raise PolicyError("policy scope is required and must be one of central, lob, use_case, effective") from exc
        return cls(
            name=str(data.get("name", "")),
            scope=scope,
            version=int(data.get("version", 1)),
            rules=tuple(CheckRule.from_dict(rule) for rule in data.get("rules", ())),
            sources=tuple(data.get("sources", ())),
            on_error=data.get("on_error", OnError.BLOCK),
        )

    @classmethod
    def from_json(cls, text: str) -> GuardrailPolicy:
        return cls.from_dict(json.loads(text))


_FIELDS_BY_CHECK: dict[Check, frozenset[str]] = {
    Check.PII: frozenset({"entities", "custom_entities"}),
    Check.SECRETS: frozenset(),
    Check.INJECTION: frozenset(),
    Check.DENIED_WORDS: frozenset({"words"}),
    Check.DENIED_TOPICS: frozenset({"topics"}),
    Check.SIZE: frozenset({"max_chars", "max_tokens"}),
    Check.GROUNDING: frozenset(),
    Check.INDIRECT_INJECTION: frozenset(),
}
_RULE_KEYS = {
    "check",
    "direction",
    "action",
    "threshold",
    "entities",
    "custom_entities",
    "words",
    "topics",
    "max_chars",
    "max_tokens",
}


def _entity_key(entity: CustomEntity) -> tuple[str, str, float]:
    return (entity.name, entity.pattern, entity.score)


def _topic_key(topic: DeniedTopic) -> tuple[str, str, tuple[str, ...]]:
    return (topic.name, topic.description, topic.examples)


def _refuse_unknown(data: dict[str, Any], known: set[str], what: str) -> None:
    unknown = set(data) - known
    if unknown:
        raise PolicyError(f"{what}: unknown fields {sorted(unknown)}")
