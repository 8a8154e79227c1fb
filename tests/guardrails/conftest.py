import atexit
import shutil
import tempfile

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from governance.guardrails import (
    PII_ENTITIES,
    Action,
    Check,
    CheckRule,
    DeniedTopic,
    Direction,
    GuardrailEngine,
    GuardrailPolicy,
    Scope,
)

# Hypothesis keeps its example database and constants cache in a folder; keep it out of the checkout.
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="hypothesis-")
set_hypothesis_home_dir(_HYPOTHESIS_HOME)
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def engine() -> GuardrailEngine:
    """One engine for the whole run, as a process would hold it."""
    return GuardrailEngine(hash_key=b"tests")


def rule(check: Check, action: Action = Action.MASK, direction: Direction = Direction.INPUT, **fields) -> CheckRule:
    return CheckRule(check=check, direction=direction, action=action, **fields)


def policy(*rules: CheckRule, name: str = "test", scope: Scope = Scope.CENTRAL) -> GuardrailPolicy:
    return GuardrailPolicy(name=name, scope=scope, rules=rules)


INVESTMENT = DeniedTopic(
    "investment_advice",
    "Personal advice on buying or selling stocks or crypto",
    ("which stocks should I buy", "should I invest in bitcoin", "should I sell my shares"),
)


@pytest.fixture
def full_policy() -> GuardrailPolicy:
    return policy(
        rule(Check.SIZE, Action.BLOCK, max_chars=5000, max_tokens=2000),
        rule(Check.SECRETS, Action.MASK),
        rule(Check.PII, Action.MASK, entities=PII_ENTITIES),
        rule(Check.DENIED_WORDS, Action.MASK, words=("project falcon",)),
        rule(Check.INJECTION, Action.BLOCK),
        rule(Check.DENIED_TOPICS, Action.FLAG, topics=(INVESTMENT,)),
        rule(Check.PII, Action.MASK, Direction.OUTPUT, entities=PII_ENTITIES),
        rule(Check.GROUNDING, Action.FLAG, Direction.OUTPUT),
    )
