"""Guardrails: policies as data, scope merging that only tightens, and an offline checking engine.

Pure Python (no Django). The public face:

    policy = merge(central, lob_policy, use_case_policy)      # effective policy
    violations = validate_tightening(parent, candidate)      # refuse a loosening save
    engine = GuardrailEngine(hash_key=settings_key)           # once per process
    result = engine.evaluate(prompt, policy, Direction.INPUT) # GuardrailResult
    guard = StreamingGuard(policy, engine=engine)             # streamed output
    comparison = shadow_evaluate(prompt, candidate, Direction.INPUT, result, engine=engine)
"""

from .classifier import InjectionClassifier, load_local_classifier
from .engine import GuardrailEngine, default_engine, evaluate
from .masking import MaskingSession
from .merge import Violation, merge, merge_rule, validate_tightening
from .policy import (
    DEFAULT_THRESHOLDS,
    MASKABLE_CHECKS,
    PII_ENTITIES,
    Action,
    Check,
    CheckRule,
    CustomEntity,
    DeniedTopic,
    Direction,
    GuardrailPolicy,
    OnError,
    PolicyError,
    Scope,
)
from .results import CheckOutcome, Finding, GuardrailResult
from .shadow import ShadowCheck, ShadowComparison, compare, shadow_compare, shadow_evaluate
from .streaming import StreamingGuard

__all__ = [
    "DEFAULT_THRESHOLDS",
    "MASKABLE_CHECKS",
    "PII_ENTITIES",
    "Action",
    "Check",
    "CheckOutcome",
    "CheckRule",
    "CustomEntity",
    "DeniedTopic",
    "Direction",
    "Finding",
    "GuardrailEngine",
    "GuardrailPolicy",
    "GuardrailResult",
    "InjectionClassifier",
    "MaskingSession",
    "OnError",
    "PolicyError",
    "Scope",
    "ShadowCheck",
    "ShadowComparison",
    "StreamingGuard",
    "Violation",
    "compare",
    "default_engine",
    "evaluate",
    "load_local_classifier",
    "merge",
    "merge_rule",
    "shadow_compare",
    "shadow_evaluate",
    "validate_tightening",
]
