"""The guardrail engine: detectors built once, policies applied per call.

Build one `GuardrailEngine` per process at start-up and keep it (building the pattern sets takes
a fraction of a second; evaluating a 2,000-character prompt takes a few milliseconds). The
personal-data detector (Presidio and spaCy) is built by the first check that needs it, so
importing this module or building an engine imports neither; `prepare(policy)` builds what a
policy needs ahead of the first call. It is safe to share between threads: detectors hold only compiled patterns and
small bounded caches of per-policy artefacts (custom recognizers, word regexes, topic models).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import OrderedDict
from functools import cache

from .classifier import InjectionClassifier
from .detectors.base import DEFAULT_PHONE_REGIONS, Detection, Detector
from .detectors.grounding import GroundingDetector
from .detectors.indirect import IndirectInjectionDetector
from .detectors.injection import InjectionDetector
from .detectors.lazy import LazyDetector
from .detectors.secrets import SecretsDetector
from .detectors.size import SizeDetector
from .detectors.topics import DeniedTopicsDetector
from .detectors.words import DeniedWordsDetector
from .masking import MaskingSession, apply_masks, resolve_overlaps
from .policy import MASKABLE_CHECKS, Action, Check, CheckRule, Direction, GuardrailPolicy, OnError
from .results import CheckOutcome, Finding, GuardrailResult, value_digest

# Cheap checks first, so that a block by size skips the rest.
CHECK_ORDER = (
    Check.SIZE,
    Check.SECRETS,
    Check.PII,
    Check.DENIED_WORDS,
    Check.INJECTION,
    Check.DENIED_TOPICS,
    Check.GROUNDING,
)
#: A check that takes longer than this has failed (fail-closed like an exception): a detector that
#: is stuck or starved must not become a way around the policy.
DEFAULT_CHECK_TIMEOUT_MS = 2_000.0
#: Detections remembered per engine, keyed by (rule, keyed digest of the text and context). A chat
#: client resends the whole conversation on every turn, so each earlier message is checked again
#: under the same rules: the repeat costs a dictionary lookup instead of the detectors (~10 ms for
#: 2,000 characters with names). Distinct texts gain nothing and lose only the digest (~2 us).
DEFAULT_RESULT_CACHE_SIZE = 2_048
PII_DETECTOR_NAME = "presidio-patterns"
_COMPACT_TYPES = frozenset({"CREDIT_CARD", "IBAN_CODE", "US_SSN", "PHONE_NUMBER"})
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")


class GuardrailEngine:
    def __init__(
        self,
        *,
        hash_key: bytes | None = None,
        classifier: InjectionClassifier | None = None,
        phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS,
        check_timeout_ms: float = DEFAULT_CHECK_TIMEOUT_MS,
        result_cache_size: int = DEFAULT_RESULT_CACHE_SIZE,
    ) -> None:
        """`hash_key` keys the digests in findings: pass one from settings so that digests agree
        across processes; without it each engine draws its own. A check that raises, or runs longer
        than `check_timeout_ms`, has failed: it takes the policy's `on_error` action (block by
        default) and its outcome names the error. The last `result_cache_size` detections are
        remembered by a keyed digest of their text (never the text): 0 turns that off."""
        self._hash_key = hash_key or secrets.token_bytes(32)
        self.check_timeout_ms = check_timeout_ms
        self._results = DetectionCache(result_cache_size, self._hash_key)
        injection = InjectionDetector(classifier)
        self._detectors: dict[Check, Detector] = {
            Check.SIZE: SizeDetector(),
            Check.SECRETS: SecretsDetector(),
            Check.PII: LazyDetector(PII_DETECTOR_NAME, lambda: _pii_detector(phone_regions)),
            Check.DENIED_WORDS: DeniedWordsDetector(),
            Check.INJECTION: injection,
            Check.INDIRECT_INJECTION: IndirectInjectionDetector(injection),
            Check.DENIED_TOPICS: DeniedTopicsDetector(),
            Check.GROUNDING: GroundingDetector(),
        }

    def prepare(self, policy: GuardrailPolicy) -> None:
        """Builds and loads now what `policy`'s rules will need (Presidio, the NER model), so that a
        process can pay for it at start-up rather than on its first call."""
        for rule in policy.rules:
            prepare = getattr(self._detectors.get(rule.check), "prepare", None)
            if prepare is not None:
                prepare(rule)

    def forget_detections(self) -> None:
        """Empties the detection cache (a detector replaced in a running engine, as tests do to make
        one fail, must not be bypassed by what the old one found)."""
        self._results.clear()

    @property
    def injection_detector_name(self) -> str:
        """`heuristic`, or `heuristic+classifier:<name>` when a local model is loaded."""
        return self._detectors[Check.INJECTION].name

    def evaluate(
        self,
        text: str,
        policy: GuardrailPolicy,
        direction: Direction,
        context: str | None = None,
        *,
        session: MaskingSession | None = None,
        stop_on_block: bool = True,
    ) -> GuardrailResult:
        """Applies every rule of `policy` for `direction` to `text`.

        `context` is the retrieved text an answer should be grounded in (output only). Pass the
        conversation's `session` to keep placeholders consistent across its messages. With
        `stop_on_block` the checks after a blocking one are skipped (reported as skipped)."""
        started = time.perf_counter()
        direction = Direction(direction)
        session = session if session is not None else MaskingSession()
        rules = {rule.check: rule for rule in policy.rules_for(direction)}
        outcomes: list[CheckOutcome] = []
        blocked_by: Check | None = None
        for check in CHECK_ORDER:
            rule = rules.get(check)
            if rule is None:
                continue
            if blocked_by is not None and stop_on_block:
                outcomes.append(CheckOutcome(check, direction, None, (), self._detectors[check].name, skipped=True))
                continue
            outcome = self.check(text, rule, context, policy.on_error)
            outcomes.append(outcome)
            if outcome.action is Action.BLOCK and blocked_by is None:
                blocked_by = check
        masked = apply_masks(text, maskable_findings(outcomes), session)
        return GuardrailResult(
            direction=direction,
            text=masked,
            blocked=blocked_by is not None,
            blocked_by=blocked_by,
            outcomes=tuple(outcomes),
            policy_fingerprint=policy.fingerprint(),
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    def check(
        self, text: str, rule: CheckRule, context: str | None = None, on_error: OnError = OnError.BLOCK
    ) -> CheckOutcome:
        """One rule's outcome; a detector that raises or overruns gives a failed outcome instead."""
        detector = self._detectors[rule.check]
        try:
            prepare = getattr(detector, "prepare", None)
            if prepare is not None:  # loading a model on first use is not the check overrunning
                prepare(rule)
            started = time.perf_counter()
            detection = self.detect(text, rule, context)
        except Exception as exc:  # any failure of a check is a verdict, never a pass
            return failed_outcome(rule, detector.name, type(exc).__name__, on_error)
        if (time.perf_counter() - started) * 1000 > self.check_timeout_ms:
            return failed_outcome(rule, detection.detector, "timeout", on_error)
        return outcome_for(rule, detection)

    def detect(self, text: str, rule: CheckRule, context: str | None = None) -> Detection:
        """One rule's detector on `text`, without applying its action (a repeated text and rule
        are answered from the engine's cache: detectors are deterministic)."""
        key = self._results.key(text, rule, context)
        detection = self._results.get(key)
        if detection is None:
            detection = self._detectors[rule.check].detect(text, rule, context=context, digest=self.digest)
            self._results.put(key, detection)
        return detection

    def digest(self, entity_type: str, value: str) -> str:
        """The keyed digest of a value, normalized so that `4111 1111…` and `4111-1111…` agree."""
        compact = entity_type in _COMPACT_TYPES
        value = _NOT_ALNUM.sub("", value).upper() if compact else value.strip().lower()
        return value_digest(f"{entity_type}:{value}", self._hash_key)


class DetectionCache:
    """A bounded LRU of detections keyed by the rule and a keyed BLAKE2b digest of the text (and
    context): it holds findings (spans, scores, digests), never the text. Safe between threads."""

    def __init__(self, size: int, hash_key: bytes) -> None:
        self._size = size
        self._key = hashlib.blake2b(b"detection-cache:" + hash_key, digest_size=32).digest()
        self._entries: OrderedDict[tuple[CheckRule, bytes], Detection] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, text: str, rule: CheckRule, context: str | None) -> tuple[CheckRule, bytes] | None:
        if self._size <= 0:
            return None
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), key=self._key, digest_size=20)
        if context is not None:
            digest.update(b"\x00context\x00" + context.encode("utf-8", "surrogatepass"))
        return rule, digest.digest()

    def get(self, key: tuple[CheckRule, bytes] | None) -> Detection | None:
        if key is None:
            return None
        with self._lock:
            detection = self._entries.get(key)
            if detection is not None:
                self._entries.move_to_end(key)
            return detection

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def put(self, key: tuple[CheckRule, bytes] | None, detection: Detection) -> None:
        if key is None:
            return
        with self._lock:
            self._entries[key] = detection
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


def _pii_detector(phone_regions: tuple[str, ...]) -> Detector:
    from .detectors.pii import PiiDetector  # Presidio and spaCy: imported by the first personal-data check

    return PiiDetector(phone_regions)


def outcome_for(rule: CheckRule, detection: Detection) -> CheckOutcome:
    return CheckOutcome(
        check=rule.check,
        direction=rule.direction,
        action=rule.action if detection.findings else None,
        findings=detection.findings,
        detector=detection.detector,
        score=detection.score,
    )


def failed_outcome(rule: CheckRule, detector: str, error: str, on_error: OnError) -> CheckOutcome:
    """The outcome of a check that could not give a verdict: `on_error` decides its action."""
    action = Action.BLOCK if on_error is OnError.BLOCK else Action.FLAG
    return CheckOutcome(
        check=rule.check,
        direction=rule.direction,
        action=action,
        findings=(),
        detector=detector,
        score=1.0,
        error=error,
    )


def maskable_findings(outcomes: list[CheckOutcome] | tuple[CheckOutcome, ...]) -> list[Finding]:
    """The findings replaced by placeholders: those of maskable checks whose rule masks or blocks."""
    findings = [
        finding
        for outcome in outcomes
        if outcome.check in MASKABLE_CHECKS and outcome.action in (Action.MASK, Action.BLOCK)
        for finding in outcome.findings
    ]
    return resolve_overlaps(findings)


@cache
def default_engine() -> GuardrailEngine:
    """A process-wide engine for callers that do not hold their own (scripts, tests, the shell)."""
    return GuardrailEngine()


def evaluate(
    text: str,
    policy: GuardrailPolicy,
    direction: Direction | str,
    context: str | None = None,
    *,
    engine: GuardrailEngine | None = None,
    session: MaskingSession | None = None,
) -> GuardrailResult:
    """Applies `policy` to `text` in `direction`; see `GuardrailEngine.evaluate`."""
    return (engine or default_engine()).evaluate(text, policy, Direction(direction), context, session=session)
