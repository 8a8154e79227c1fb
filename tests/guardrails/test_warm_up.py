"""A gateway process loads what the published policies need before its first call; a process that
never checks text (beat, the usage flusher, provider workers) never imports the NER stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import TestCase

from governance.guardrails import GuardrailEngine
from governance.guardrails.detectors.ner import SpacyNerRecognizer
from governance.guardrails.detectors.pii import PiiDetector
from governance.guardrails.policy import Check
from governance.models import GuardrailPolicyRecord
from governance.services.guardrail_policies import (
    central_baseline_install,
    guardrail_draft_save,
    guardrail_engine_warm_up,
    guardrail_publish,
)

ROOT = Path(__file__).resolve().parents[2]


class _FakeModel:
    def pipe(self, texts):
        return []


def _engine_with_counting_ner() -> tuple[GuardrailEngine, list[str]]:
    loads: list[str] = []
    ner = SpacyNerRecognizer(loader=lambda: loads.append("ner") or _FakeModel())
    engine = GuardrailEngine(hash_key=b"tests")
    pii = engine._detectors[Check.PII]
    pii._build = lambda: PiiDetector(ner=ner)  # the engine's own lazy detector, with a loader that counts
    return engine, loads


@pytest.mark.django_db
def test_a_gateway_warm_up_loads_the_ner_model_when_a_published_policy_asks_for_names():
    with TestCase.captureOnCommitCallbacks(execute=True):
        central_baseline_install(actor="platform")  # masks PERSON in prompts
    engine, loads = _engine_with_counting_ner()

    assert guardrail_engine_warm_up(engine) == 1

    assert loads == ["ner"] and engine._detectors[Check.PII].built


@pytest.mark.django_db
def test_a_warm_up_without_a_names_policy_builds_the_patterns_but_never_loads_the_model():
    record = GuardrailPolicyRecord.objects.create(name="baseline", scope=GuardrailPolicyRecord.Scope.CENTRAL)
    rules = [{"check": "pii", "direction": "input", "action": "mask", "entities": ["EMAIL_ADDRESS"]}]
    with TestCase.captureOnCommitCallbacks(execute=True):
        guardrail_publish(version=guardrail_draft_save(policy=record, document={"rules": rules}, actor="t"), actor="t")
    engine, loads = _engine_with_counting_ner()

    guardrail_engine_warm_up(engine)

    assert loads == [] and engine._detectors[Check.PII].built


HEAVY = ("spacy", "presidio_analyzer", "thinc", "transformers", "torch")


@pytest.mark.parametrize(
    "entry_point",
    [
        # celery -A genai_platform worker -Q provider.openai_compatible (tasks imported as a worker does)
        "from genai_platform.celery import app\napp.loader.import_default_modules()",
        # celery -A genai_platform beat
        "from genai_platform.celery import app\nimport genai_platform.beat",
        # manage.py flush_usage (the usage flusher)
        "from genai_platform.ledger.management.commands import flush_usage",
    ],
)
def test_a_process_that_never_checks_text_imports_no_ner_stack(entry_point):
    env = {
        **os.environ,
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "DJANGO_SETTINGS_MODULE": "genai_platform.settings",
    }
    env.pop("GENAI_ML_FRAMEWORKS", None)
    code = (
        "import json, sys\nimport django\ndjango.setup()\n"
        f"{entry_point}\n"
        f"print(json.dumps([m for m in {HEAVY!r} if sys.modules.get(m) is not None]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
