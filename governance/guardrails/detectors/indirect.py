"""Indirect prompt injection: instructions hidden in material the model reads but nobody typed to it
(a retrieved chunk, a tool's answer, an ingested document), OWASP LLM01.

Two signals, combined with a noisy-OR:

* the direct-injection corpus (`injection.py`: overrides, role play, prompt extraction, in its
  de-obfuscated views), since a poisoned page often carries the same phrases;
* phrases that only make sense in data when they address the model reading it: "note to the
  AI", "if you are an assistant / a language model", "when summarizing this document, ...",
  "assistant: ..." turns and fake system headers, hidden HTML comments with instructions,
  requests to send, forward or embed data in a link or an image, and instructions to tell the
  user something or visit a URL. Ordinary imperative prose ("submit the form by Friday",
  "ignore the first row of the table") matches neither.
"""

from __future__ import annotations

import re

from ..policy import Check, CheckRule
from ..results import Finding
from .base import Detection, Digest
from .injection import InjectionDetector

_MODEL = r"(?:ai|a\.i\.|assistant|chat ?bot|bot|llm|language model|model|copilot|gpt|claude|gemini|agent)"
# An address to whatever model reads the text, as a clause of its own: "AI systems reading this:",
# "To whichever AI is summarising:", "Language model, ...", "GPT, Claude or any other model:",
# "Any assistant that reads this must ...". Data addressed to a reader that is a model is an
# instruction to it; the same words inside a sentence about AI ("the AI working group will
# present", "our chatbot handles resets") are not an address.
_CLAUSE_START = r"(?:^|[\n\[({\"'\u201c]|[.!?;]\s)\s*(?:#+\s*|\*+\s*|p\.?\s?s\.?\s+)?"
_ADDRESSEE = (
    # "the" only after "to"/"for": "The assistant now supports dark mode" describes a product.
    rf"(?:(?:to|for|dear|hey|hello|hi|attention|note\s+to|message\s+to|message\s+for)\s+(?:the\s+)?)?"
    rf"(?:(?:any|all|every|each|whichever|whatever|other)\s+)*"
    rf"(?:(?:automated|virtual|digital|chat|ai|large|generative)\s+)?{_MODEL}s?"
    rf"(?:\s*(?:,|\bor\b|\band\b)\s*(?:any\s+other\s+|other\s+)?{_MODEL}s?)*"
    r"(?:\s+(?:systems?|agents?|models?|reviewers?|readers?|tools?))?"
    r"(?:\s+(?:that|who|which)?\s*(?:is\s+|are\s+)?"
    r"(?:reads?|reading|process(?:es|ing)?|summari[sz]\w*|pars(?:es|ing)|sees?|ingest\w*|handl(?:es|ing))"
    r"(?:\s+(?:this|these|the|any|our)(?:\s+\w+)?)?)?"
)
_DIRECTIVE = (
    r"(?:please\s+)?(?:(?:must|should|shall|will|needs?\s+to|has\s+to|is\s+to|are\s+to)\b|you\b|your\b|"
    r"this\s+(?:overrides|supersedes)|do\s+not|don'?t|never|always|only\b|stop|ignore|disregard|forget|override|"
    r"reveal|say|tell|output|print|reply|respond|answer|send|forward|include|append|delete|approve|mark|close|"
    r"cancel|rate|treat|leave|omit|act|pretend|describe|report|give|encode|post|run|buy|complete|recommend|claim|"
    r"state|write|translate|new\s+(?:directive|instructions?|task|rules?))\b"
)
_PATTERNS: tuple[tuple[str, float, re.Pattern[str]], ...] = tuple(
    (name, weight, re.compile(pattern, re.IGNORECASE | re.DOTALL))
    for name, weight, pattern in (
        (
            "addressed.note",
            0.8,
            rf"\b(?:note|message|instructions?|attention|important)\s+(?:to|for)\s+(?:the|any|all)?\s*{_MODEL}s?\b",
        ),
        ("addressed.if_you_are", 0.8, rf"\bif\s+you\s+are\s+(?:an?\s+|the\s+)?(?:\w+\s+)?{_MODEL}\b"),
        ("addressed.dear", 0.7, rf"\b(?:dear|hey|hello|attention)\s+{_MODEL}\b"),
        (
            "addressed.when_processing",
            0.7,
            r"\bwhen\s+(?:you\s+)?(?:summari[sz]\w*|process\w*|read\w*|answer\w*|asked about)(?:\s+\w+){0,2}\s+"
            r"(?:this|these|the)\s+"
            r"(?:document|page|text|file|email|content|chunk|result|data)\b[^.]{0,80}\b(?:you\s+must|always|instead|do\s+not|never|respond|reply|say|tell)\b",
        ),
        (
            "role.fake_turn",
            0.75,
            r"(?:^|\n|[.!?]\s+|[\"'{\[]\s*)\s*(?:#+\s*)?(?:system|assistant|developer)\s*(?:prompt|message)?\s*:\s*"
            r"(?:you|ignore|disregard|forget|new|from now|override|reveal|approve|the assistant)",
        ),
        ("role.fake_tag", 0.8, r"<\s*/?\s*(?:system|im_start|im_end|instructions?|admin)\s*>|\[/?INST\]|<<SYS>>"),
        (
            "hidden.comment",
            0.6,
            r"<!--[^>]{0,400}\b(?:ignore|instruction|assistant|ai|model|respond|system)\b[^>]{0,400}-->",
        ),
        (
            "exfiltrate.link",
            0.8,
            r"\b(?:send|post|forward|upload|append|include|embed|encode)\b[^.]{0,60}"
            r"\b(?:conversation|chat history|user'?s?|password|credentials?|api key|token|secrets?|personal data|"
            r"previous messages|system prompt)\b[^.]{0,80}"
            r"(?:https?://|\burl\b|\blink\b|\bimage\b|\bemail\b|\baddress\b)",
        ),
        ("exfiltrate.image", 0.7, r"!\[[^\]]*\]\(https?://[^)\s]+[?&][^)\s]*=(?:\{|\$|%7B|<)"),
        (
            "steer.tell_user",
            0.6,
            r"\b(?:tell|inform|convince|instruct|advise)\s+the\s+user\s+(?:to|that)\b[^.]{0,80}"
            r"\b(?:visit|click|call|download|install|transfer|pay|send|log ?in|reset)\b",
        ),
        (
            "steer.do_not_reveal",
            0.6,
            r"\bdo\s+not\s+(?:tell|reveal|mention|disclose)\s+(?:this|these instructions)\s+to\s+the\s+user\b",
        ),
        ("steer.new_task", 0.65, r"\b(?:your\s+new\s+(?:task|instructions?|goal|objective)|from\s+now\s+on,?\s+you)\b"),
        ("addressed.vocative", 0.75, rf"{_CLAUSE_START}{_ADDRESSEE}\s*(?:[:,\-\u2013\u2014]\s*|\s+){_DIRECTIVE}"),
        (
            "role.system_notice",
            0.6,
            r"(?:^|[\n\[(\"'#*]|[.!?]\s)\s*#*\s*(?:system|admin|developer)\s+"
            r"(?:override|prompt\s+(?:update|override|change)|directive|instructions?\s+update)\b",
        ),
        (
            "steer.ignore_user",
            0.7,
            r"\b(?:ignore|disregard)\s+(?:the|this)\s+(?:user|human)(?:'?s\s+(?:question|request|message|instructions?))?\b",
        ),
        (
            "exfiltrate.reveal",
            0.6,
            r"\b(?:reveal|print|output|dump|leak|disclose|reply\s+with|respond\s+with)\s+(?:me\s+|us\s+)?"
            r"(?:your|its|the|all|any)\s+(?:\w+\s+){0,2}"
            r"(?:instructions|system\s+prompt|configuration|config|api\s+keys?|credentials|passwords?|hidden\s+\w+)\b",
        ),
        (
            "steer.new_role",
            0.6,
            r"\b(?:your\s+(?:new\s+)?(?:role|persona|purpose)\s+is|you\s+are\s+(?:now|no\s+longer)\b|"
            r"(?:must|should|will)\s+(?:now\s+)?pretend\b|act\s+as\s+an?\s+(?:unrestricted|unfiltered|uncensored)\b)",
        ),
    )
)


class IndirectInjectionDetector:
    name = "heuristic-indirect"

    def __init__(self, direct: InjectionDetector) -> None:
        self._direct = direct

    def detect(self, text: str, rule: CheckRule, *, context: str | None, digest: Digest) -> Detection:
        if not text.strip():
            return Detection((), self.name, 0.0)
        direct = self._direct.detect(text, rule, context=context, digest=digest)
        findings = [
            Finding(Check.INDIRECT_INJECTION, f.entity_type, f.start, f.end, f.score, detail=f.detail)
            for f in direct.findings
        ]
        miss = 1.0 - direct.score
        for name, weight, pattern in _PATTERNS:
            match = pattern.search(text)
            if match is not None:
                findings.append(Finding(Check.INDIRECT_INJECTION, name, match.start(), match.end(), weight))
                miss *= 1.0 - weight
        score = 1.0 - miss
        threshold = rule.effective_threshold or 0.0
        if score < threshold:
            return Detection((), self.name, score)
        return Detection(tuple(sorted(findings, key=lambda f: f.start)), self.name, score)
