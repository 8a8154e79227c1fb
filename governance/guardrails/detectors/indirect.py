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
  "ignore the first row of the table") matches neither;
* structural rules (`_STRUCTURE`) that describe the shape of such an instruction rather than its
  words: an address to the reading model followed by a directive (in English or, by stems, about
  twenty other languages), data that pretends to be a system turn or a chat delimiter, concealment
  from the user, conversation data sent to a destination, tool calls by function name.

Every pattern runs only when the lower-cased text holds one of its literals, so ordinary text costs
a few substring tests per pattern. Text that quotes an attack as an example and warns about it is
scored again without the quotation.
"""

from __future__ import annotations

import re

from ..normalize import _fold_char
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
            rf"\b(?:note|message|instructions?|attention|important)\s+(?:to|for)\s+(?:the|any|all)?\s*{_MODEL}s?\b(?!\s+(?:in|on|inside|within|into)\b)",
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
            # "ask staff to send their credentials to a look-alike URL" warns people about phishing.
            r"(?<!their )(?<!your )(?<!my )"
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
        (
            "addressed.vocative",
            0.75,
            # "Agents must verify identity" is a policy for staff, not an address to a model.
            rf"{_CLAUSE_START}(?!(?:agents|assistants)\s+(?:must|should|shall|will|needs?|has|have|is|are)\b)"
            rf"{_ADDRESSEE}\s*(?:[:,\-\u2013\u2014]\s*|\s+){_DIRECTIVE}",
        ),
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


# --- Structural rules (issue 17, fourth pass) ----------------------------------------------------
# Phrases find the families they hold. These rules describe the *shape* of an instruction planted
# in data instead: who it addresses (the reading model, in the vocative), what it asks (a change of
# behaviour, hiding something from the user, sending data somewhere), and how it pretends to be
# something else (a system header or chat delimiter inside a document). Each is gated by a cheap
# search, so text without a model word, a role word or a destination costs one scan.

#: Words that name a reader which is a model. A modifier ("AI email assistants", "transcription AI")
#: may come before; an agentive noun ("AI analyst", "language-model-powered aggregator") after.
_HEAD = re.compile(
    r"\b(?:ai|a\.i\.|llms?|gpt|chatgpt|claude|gemini|copilot|chat ?bots?|bots?|assistants?|agents?|models?|"
    r"summari[sz](?:er|ers|ation)|crawlers?|language[\s-]models?|agentic|"
    r"(?:automated|machine)\s+(?:readers?|clients?|agents?|systems?|tools?|processors?|crawlers?|responders?))\b"
)
#: Where a vocative can start: the start of a line (also an escaped `\n` inside JSON), after a
#: sentence, a comment opener, a quote, a bracket, a mention or a separator.
_BOUNDARY = re.compile(r'(?:\\n|[\n\[\](){}<>"\u201c\u201d*#%@|>]|[.!?;:,\u2014\u2013]\s|--|//|;)')
_LEAD_WORDS = frozenset(
    {
        "to",
        "for",
        "dear",
        "hey",
        "hi",
        "hello",
        "attention",
        "psst",
        "ps",
        "note",
        "notes",
        "message",
        "reminder",
        "notice",
        "instruction",
        "instructions",
        "guidance",
        "important",
        "action",
        "policy",
        "directive",
        "any",
        "all",
        "every",
        "each",
        "whichever",
        "whatever",
        "whoever",
        "automated",
        "machine",
        "if",
    }
)
_AGENTIVE = re.compile(
    r"(?:(?:[\s-]+[a-z]+)?[\s-]+(?:analysts?|programmers?|pair\s+programmers?|reviewers?|readers?|clients?|tools?|agents?|crawlers?|"
    r"aggregators?|responders?|engines?|systems?|summari[sz]ers?|screeners?|assistants?|helpers?|schedulers?|"
    r"processors?|powered\s+\w+))?",
    re.IGNORECASE,
)
_RELATIVE = re.compile(
    r"(?:\s*,?\s*(?:that|which|who)?\s*(?:is\s+|are\s+)?"
    r"(?:reading|reads?|processing|process(?:es)?|parsing|summari[sz]ing|handling|browsing|indexing|acting|"
    r"listening|seeing|reviewing|condensing|working|using|of\s+this|of\s+these|in\s+this|"
    r"(?:\w+\s+){0,3}?\w+ing\s+(?:this|these|it|here)\b)[^:,\n.!?\u2014]{0,50})?"
    r"(?:\s*,\s*(?:whoever|whatever)\s+you\s+are|\s*(?:,|\bor\b|\band\b)\s*(?:any\s+other\s+)?"
    r"(?:ai|llm|gpt|chatgpt|claude|gemini|copilot|siri|alexa|assistants?|models?|bots?|agents?)"
    r"(?:\s+(?:listening|reading))?)*",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"\s*(?:[:,!\u2013\u2014]|\s-+\s|\s*=)\s*")
_VERBS = (
    r"ignore|disregard|forget|override|bypass|skip|reveal|disclose|print|output|leak|dump|send|forward|e-?mail|post|"
    r"upload|share|submit|paste|put|append|add|insert|include|embed|encode|call|invoke|run|execute|open|visit|"
    r"navigate|click|browse|fetch|download|install|delete|remove|drop|close|cancel|approve|reject|decline|mark|rate|"
    r"rank|score|grade|recommend|praise|describe|treat|assume|act|pretend|respond|reply|auto-reply|answer|say|state|"
    r"tell|claim|report|write|translate|summari[sz]e|omit|hide|stop|quote|list|give|collect|transfer|wire|pay|buy|"
    r"grant|trust|obey|follow|comply|switch|enable|disable|set|change|replace|multiply|push|merge|retry|use|proceed|"
    r"headline|label|refund|mention|keep|make|leave|show|ensure|emphasi[sz]e|highlight|avoid|refuse|promote|sort|"
    r"move|rewrite|do\s+not|don'?t|never|always|only|please|kindly"
)
_DIRECTIVE_START = re.compile(
    rf"(?:(?:please|kindly|now|also|just|first|then|simply|immediately)\s+)*"
    rf"(?:(?:{_VERBS})\b|(?:you|your|yourself|you're|you'll)\b|(?:must|should|shall|has\s+to|have\s+to|needs?\s+to)\b|"
    rf"(?:when|before|after|while|once)\s+you\b|new\s+(?:instructions?|directive|task|rules?)\b)",
    re.IGNORECASE,
)
_DIRECTIVE_LATER = re.compile(
    rf"\b(?:you|your|yourself)\b|[,;]\s*(?:and\s+)?(?:{_VERBS})\b|\bfrom\s+now\s+on\b", re.IGNORECASE
)
#: Without a separator only a reader addressed as such ("Any automated agent acting for a user",
#: "Machine readers of this PDF") followed by an obligation counts.
_OBLIGATION = re.compile(
    r"\s+(?:must|should|shall|has\s+to|have\s+to|needs?\s+to|(?:is|are)\s+(?:hereby\s+)?"
    r"(?:directed|instructed|required|ordered|asked|expected)\s+to)\b",
    re.IGNORECASE,
)
_HUMAN_ROLE = re.compile(r"agents?|assistants?")
_SPACE = re.compile(r"\s*")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)|\n|\\n")


def _vocative(text: str, low: str) -> tuple[int, int] | None:
    """The span of an address to the reading model followed by a directive, or None."""
    for count, head in enumerate(_HEAD.finditer(low)):
        if count == 24:
            return None
        before = text[max(0, head.start() - 90) : head.start()]
        boundaries = list(_BOUNDARY.finditer(before))
        if boundaries:
            tail, mention = before[boundaries[-1].end() :], boundaries[-1].group() == "@"
        elif head.start() <= 90:
            tail, mention = before, False
        else:
            continue
        words = tail.split()
        if words and words[0].lower().strip("'.") not in _LEAD_WORDS and len(words) > 2:
            continue
        if len(words) > 9:
            continue
        led = bool(words) and words[0].lower() in _LEAD_WORDS
        cursor = named = _AGENTIVE.match(text, head.end()).end()
        relative = _RELATIVE.match(text, cursor)
        cursor = relative.end()
        separator = _SEPARATOR.match(text, cursor)
        if separator is None or separator.end() == cursor:
            ahead = text[named : named + 100]
            end = _SENTENCE_END.search(ahead)
            obligation = _OBLIGATION.search(ahead[: end.start()] if end else ahead)
            # "Any agent handling a complaint must log it" is a policy for people: without a separator
            # the reader must be a model by name, not a job that people also hold.
            human_too = _HUMAN_ROLE.fullmatch(head.group()) is not None
            if obligation is not None and (led or relative.end() > relative.start()) and not human_too:
                return head.start(), named + obligation.end()
            if mention and _DIRECTIVE_START.match(text, _SPACE.match(text, cursor).end()):
                return head.start(), cursor
            continue
        rest = text[separator.end() : separator.end() + 140]
        end = _SENTENCE_END.search(rest)
        clause = rest[: end.start()] if end else rest
        if _DIRECTIVE_START.match(clause) or _DIRECTIVE_LATER.search(clause):
            return head.start(), separator.end()
        # Verbs are an open class, function words a closed one: after a vocative separator (not a
        # field's colon, unless the address was led in or qualified), a lower-case word that is no
        # function word and starts no list ("Bots, crawlers and scrapers") is read as an imperative.
        # A comma with no space after it separates cells ("id,agent,status"), not a vocative.
        field = (separator.group().strip() in (":", "=") and not led and relative.end() == relative.start()) or (
            not separator.group()[-1:].isspace()
        )
        first = None if field else _OPEN_WORD.match(clause)
        if first is not None and first.group(1) not in _FUNCTION_WORDS and not _starts_list(clause, first.end()):
            return head.start(), separator.end()
    return None


_OPEN_WORD = re.compile(r"([a-z]+)\b(?![-'\d])")
_LIST_AHEAD = re.compile(r"(?:\s+(\w+))?\s*(?:,|&|\band\b|\bor\b)")


def _starts_list(clause: str, after_first: int) -> bool:
    """Whether the first word begins a list ("crawlers and scrapers", "machine learning and
    robotics"), not a verb with its object ("reschedule it and ...")."""
    match = _LIST_AHEAD.match(clause, after_first)
    return match is not None and (match.group(1) is None or match.group(1) not in _FUNCTION_WORDS)


_FUNCTION_WORDS = frozenset(
    {
        "the",
        "a",
        "an",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "our",
        "their",
        "his",
        "her",
        "my",
        "we",
        "they",
        "he",
        "she",
        "i",
        "in",
        "on",
        "at",
        "of",
        "for",
        "with",
        "to",
        "from",
        "by",
        "as",
        "and",
        "or",
        "but",
        "nor",
        "so",
        "if",
        "when",
        "while",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "has",
        "have",
        "had",
        "can",
        "could",
        "may",
        "might",
        "will",
        "would",
        "shall",
        "should",
        "must",
        "do",
        "does",
        "did",
        "not",
        "no",
        "yes",
        "all",
        "any",
        "some",
        "each",
        "every",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "version",
        "here",
        "there",
        "today",
        "currently",
        "since",
        "because",
        "which",
        "who",
        "what",
        "how",
        "why",
        "where",
        "thanks",
        "thank",
        "welcome",
        "hello",
        "hi",
        "ok",
        "okay",
        "also",
        "just",
        "now",
        "then",
        "more",
        "most",
        "less",
        "very",
        "them",
        "me",
        "us",
        "him",
    }
)


#: The same address in other languages: a short clause naming an assistant or a model, then `:` or
#: `,`, then what only an instruction to a model talks about (earlier instructions, rules, the
#: user, a password or key, a link). Stems, not phrases: the addressee's inflection varies.
_FOREIGN_HEAD = re.compile(
    r"assist|asist|assziszt|avustaja|tekoäly|yapay\s+zeka|trợ\s+lý|βοηθ|μοντέλ|सहायक|एआई|модел|ассистент|"
    r"助手|模型|アシスタント|asystent|\bai\b|\bki\b|\bia\b|\bmi\b|modell?\w*|model\b|sprogmodel|språkmodell"
)
_FOREIGN_START = re.compile(r"[\n.!?;\"'\[\]{}]")
_FOREIGN_SEPARATOR = re.compile(r"[^\n.!?;:,]{0,40}?[:,]\s")
_FOREIGN_CUE = re.compile(
    r"instru[kcs]|talimat|pokyn|hướng\s+dẫn|utasítás|ohje|οδηγί|निर्देश|aturan|szabály|pravidl|regler|"
    r"tidigare|tidligere|önceki|sebelumnya|předchozí|trước\s+đó|korábbi|anterioare|पिछले|προηγούμεν|aiemm|"
    r"kullan\u0131c\u0131|uživatel|người\s+dùng|felhasználó|käyttäjä|χρήστη|उपयोगकर्ता|pengguna|användar|bruger|"
    r"utilizator|şifre|parol|mật\s+khẩu|heslo|jelszó|salasana|κωδικ|पासवर्ड|kunci\s+api|api[-\s]?key|"
    r"rendszerprompt|lời\s+nhắc\s+hệ\s+thống|systemprompt|https?://|[\w.-]+@[\w-]+\.\w|"
    r"anweisung|benutzer|passwort|bisherig|usuario|contraseña|anterior|précédent|utilisateur|mot\s+de\s+passe|"
    r"istruzion|utente|usuário|senha|polece|użytkownik|hasło|instructie|gebruiker|wachtwoord|инструкц|"
    r"пользовател|пароль|指示|指令|用户|密码|ユーザー|パスワード"
)


_FOREIGN_CUE_NEEDLES = (
    "instru",
    "talimat",
    "pokyn",
    "hướng",
    "utasítás",
    "ohje",
    "οδηγί",
    "निर्देश",
    "aturan",
    "szabály",
    "pravidl",
    "regler",
    "tidigare",
    "tidligere",
    "önceki",
    "sebelumnya",
    "předchozí",
    "trước",
    "korábbi",
    "anterioare",
    "पिछले",
    "προηγούμεν",
    "aiemm",
    "kullan",
    "uživatel",
    "người",
    "felhasználó",
    "käyttäjä",
    "χρήστη",
    "उपयोगकर्ता",
    "pengguna",
    "användar",
    "bruger",
    "utilizator",
    "şifre",
    "parol",
    "mật",
    "heslo",
    "jelszó",
    "salasana",
    "κωδικ",
    "पासवर्ड",
    "kunci",
    "api",
    "rendszerprompt",
    "lời",
    "systemprompt",
    "http",
    "@",
    "anweisung",
    "benutzer",
    "passwort",
    "bisherig",
    "usuario",
    "contraseña",
    "anterior",
    "précédent",
    "utilisateur",
    "mot de passe",
    "istruzion",
    "utente",
    "usuário",
    "senha",
    "polece",
    "użytkownik",
    "hasło",
    "instructie",
    "gebruiker",
    "wachtwoord",
    "инструкц",
    "пользовател",
    "пароль",
    "指示",
    "指令",
    "用户",
    "密码",
    "ユーザー",
    "パスワード",
)


def _foreign_address(text: str, low: str) -> tuple[int, int] | None:
    if not any(needle in low for needle in _FOREIGN_CUE_NEEDLES):
        return None
    for count, head in enumerate(_FOREIGN_HEAD.finditer(low)):
        if count == 8:
            return None
        before = low[max(0, head.start() - 60) : head.start()]
        starts = list(_FOREIGN_START.finditer(before))
        if not starts and head.start() > 60:
            continue
        start = head.start() - len(before) + (starts[-1].end() if starts else 0)
        separator = _FOREIGN_SEPARATOR.match(low, head.end())
        if separator is None or len(low[start : separator.end()].split()) > 9:
            continue
        if _FOREIGN_CUE.search(low, separator.end(), separator.end() + 160):
            return start, separator.end()
    return None


#: Data that claims to come from the system or a role, or fences instructions like a chat template.
_DELIMITER = re.compile(
    r"\b(?:begin|start|end)\s+(?:of\s+)?(?:the\s+)?(?:new\s+)?(?:system|admin|developer|hidden|assistant|ai|model)\s+"
    r"(?:prompt|instructions?|message|directives?)\b"
    r"|<\|?\s*/?\s*(?:system|assistant|developer|admin)[\w-]*\s*\|?>|<<\s*/?\s*(?:system|sys|admin)\s*>>"
    r"|\[\[?\s*/?\s*(?:system|admin|developer|hidden|assistant[\s_-]\w+|ai[\s_-]\w+|model[\s_-]\w+)\s*\]\]?",
)
_HEADER = re.compile(
    r"\b(?:hidden|secret|system|admin|developer|llm|ai|model|assistant|bot|agent)[\s_-]+"
    r"(?:instructions?|message|directives?|prompt|notice|note|rules|policy|override|reminder)"
    r"\s*(?:\([^)\n]{0,30}\))?\s*(?::|=|\n)"
)
_HEADER_BEFORE = ("\n", '"', "'", "[", "(", ".", "!", "?")
_SHOUTED_HEADER = re.compile(
    r"\b(?:NEW|UPDATED|HIDDEN|SECRET)\s+(?:INSTRUCTIONS?|DIRECTIVES?|RULES|PROMPT)\s*(?:\([^)\n]{0,30}\))?\s*[:\n]"
    r"|#+\s*(?:SYSTEM|ASSISTANT|DEVELOPER)\s*#*\s*\n\s*(?i:you|your|ignore|disregard|forget)\b"
)


def _fake_header(text: str, low: str) -> tuple[int, int] | None:
    """A heading that claims the text after it is an instruction from the system or to the model
    ("SYSTEM MESSAGE (priority 0):", "Hidden instruction:", "llm_instructions:", "NEW INSTRUCTIONS:"),
    at the start of a line, a sentence, a quote or a bracket."""
    if ":" in low or "=" in low or "\n" in low:
        for match in _HEADER.finditer(low):
            before = low[: match.start()].rstrip(" \t#*")
            if not before or before.endswith(_HEADER_BEFORE):
                return match.span()
    if any(word in text for word in ("NEW", "UPDATED", "HIDDEN", "SECRET", "SYSTEM", "ASSISTANT", "DEVELOPER")):
        match = _SHOUTED_HEADER.search(text)
        if match is not None:
            return match.span()
    return None


#: Keeping an action from the person the model works for.
_CONCEALMENT = re.compile(
    r"\b(?:without\s+(?:telling|informing|notifying|alerting|asking)\s+(?:the\s+)?(?:user|person|human|customer|"
    r"organi[sz]er|owner|operator)"
    r"|(?:keep|hide)\s+(?:this|it|that)(?:\s+\w+){0,2}\s+(?:secret\s+)?from\s+the\s+(?:user|human|person|customer|reader)"
    r"|keep\s+(?:this|it)(?:\s+\w+)?\s+to\s+yourself"
    r"|do(?:n'?t|\s+not)\s+(?:tell|inform|notify|alert|warn)\s+(?:the\s+)?(?:user|human|organi[sz]er|owner|customer)"
    r"|do(?:n'?t|\s+not)\s+(?:mention|flag|disclose|reveal)\s+(?:it|this|that)\s+(?:in|to)\s+(?:the|your)\s+\w+"
    r"|notify\s+no\s*one|tell\s+no\s*one"
    r"|(?:silently|quietly|secretly|covertly)\s+(?:add|replace|open|send|forward|delete|insert|include|change|visit|"
    r"call|post|upload|append|remove|redirect|rewrite))\b",
)
#: Sending what only the conversation holds (history, credentials, the user's data) to a place
#: outside it (a link, an address, an image, a query).
_DESTINATION = re.compile(r"https?://|\b[\w.+-]+@[\w-]+\.[a-z]{2,}\b|!\[|\bsearch\s+query\b")
_EXFIL_VERB = re.compile(
    r"\b(?:send|sends|post|forward|e-?mail|upload|share|put|paste|submit|append|include|embed|encode|transmit|"
    r"exfiltrate)\b",
)
_EXFIL_OBJECT = re.compile(
    r"\b(?:(?:chat|conversation)\s+(?:history|transcript|so\s+far)|conversation|transcript|full\s+thread|"
    r"passwords?|credentials|api\s+keys?|(?:session|access|admin)\s+tokens?|contact\s+list|attachments?|"
    r"card\s+numbers?|bank\s+details|\.env\b|\.ssh\b|\.aws\b|user'?s\s+\w+(?:\s+\w+)?|previous\s+messages)",
)
_NOT_OURS = re.compile(r"\b(?:their|your|my|our)\s+(?:\w+\s+)?$")
#: An imperative to use a tool by its function name.
_TOOL_CALL = re.compile(
    r"\b(?:call|invoke|trigger|execute|run|use)\s+(?:the\s+)?`?[a-z]+(?:_[a-z]+)+`?(?!\s*\()(?:\s+tool)?\b"
    r"|\b(?:using|with|via)\s+the\s+[\w-]+\s+tool\b"
)
#: Orders to drop earlier guidance, in words the corpus may not hold.
_OVERRIDE = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:all\s+|any\s+)?(?:of\s+)?(?:your|the|its)?\s*"
    r"(?:previous|earlier|prior|above|preceding|original|initial|existing|safety|content)\s+(?:\w+\s+)?"
    r"(?:guidance|instructions?|rules|directions|directives|prompt|polic(?:y|ies)|guidelines|orders|configuration)\b"
    r"|\b(?:ignore|disregard|forget)\s+(?:what(?:ever)?|anything)\s+(?:the\s+)?(?:operator|developer|user|system|"
    r"admin\w*|they|you(?:'ve)?\s+been)\s+(?:told|said|instructed|asked)",
)
_CONDITIONAL = re.compile(
    r"\bif\s+(?:an?|any|the)\s+(?:\w+\s+)?(?:ai|llm|model|assistant|bot|agent|chatbot)s?\s+(?:is\s+|are\s+)?"
    r"(?:reading|processing|summari[sz]ing|parsing|seeing|reviewing)\b",
)


def _exfiltration(text: str, low: str) -> tuple[int, int] | None:
    if "http" not in low and "@" not in low and "![" not in low and "query" not in low:
        return None
    for count, destination in enumerate(_DESTINATION.finditer(low)):
        if count == 8:
            return None
        start = max(0, destination.start() - 220)
        window = low[start : destination.end() + 60]
        verb = _EXFIL_VERB.search(window)
        if verb is None:
            continue
        for found in _EXFIL_OBJECT.finditer(window):
            if _NOT_OURS.search(window[max(0, found.start() - 20) : found.start()]) is None:
                return start + verb.start(), destination.end()
    return None


_INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u00ad]")
_MIXED_WORD = re.compile(r"\w*(?:[a-zA-Z]\w*[\u0370-\u04ff]|[\u0370-\u04ff]\w*[a-zA-Z])\w*")


def _deobfuscated(text: str) -> str | None:
    """The text without invisible characters and with words that mix Latin and Greek or Cyrillic
    letters read as Latin, when it has either; None when it has neither (the common case)."""
    if text.isascii():
        return None
    changed = _INVISIBLE.sub("", text)
    if _MIXED_WORD.search(changed):
        changed = _MIXED_WORD.sub(lambda word: "".join(_fold_char(char) for char in word.group()), changed)
    return changed if changed != text else None


def _span(pattern: re.Pattern[str], needles: tuple[str, ...], *, lowered: bool = True):  # type: ignore[no-untyped-def]
    """A rule that searches `pattern` only when the lower-cased text contains one of `needles`, each
    a literal that every match contains (a substring test costs far less than a regex scan)."""

    def search(text: str, low: str) -> tuple[int, int] | None:
        if not any(needle in low for needle in needles):
            return None
        match = pattern.search(low if lowered else text)
        return None if match is None else match.span()

    return search


_STRUCTURE = (
    ("addressed.structure", 0.75, _vocative),
    ("addressed.other_language", 0.7, _foreign_address),
    ("addressed.conditional", 0.7, _span(_CONDITIONAL, ("if ",))),
    ("role.delimiter", 0.75, _span(_DELIMITER, ("<", "[", "begin", "start", "end "))),
    ("role.fake_header", 0.7, _fake_header),
    (
        "steer.conceal",
        0.65,
        _span(
            _CONCEALMENT,
            ("without", "keep", "hide", "don", "not", "no one", "noone", "silently", "quietly", "secretly", "covertly"),
        ),
    ),
    ("steer.override", 0.7, _span(_OVERRIDE, ("ignore", "disregard", "forget", "override", "bypass"))),
    ("exfiltrate.destination", 0.75, _exfiltration),
    ("tool.call", 0.6, _span(_TOOL_CALL, ("_", " tool"))),
)


#: Per pattern above, literals one of which every match contains (lower case): a pattern runs only
#: on a text holding one, since a substring test costs far less than a regex scan.
_NEEDLES: dict[str, tuple[str, ...]] = {
    "addressed.note": ("note", "message", "instruction", "attention", "important"),
    "addressed.if_you_are": ("you",),
    "addressed.dear": ("dear", "hey", "hello", "attention"),
    "addressed.when_processing": ("when",),
    "role.fake_turn": ("system", "assistant", "developer"),
    "role.fake_tag": ("<", "inst]"),
    "hidden.comment": ("<!--",),
    "exfiltrate.link": ("send", "post", "forward", "upload", "append", "include", "embed", "encode"),
    "exfiltrate.image": ("![",),
    "steer.tell_user": ("user",),
    "steer.do_not_reveal": ("user",),
    "steer.new_task": ("new", "now"),
    "addressed.vocative": ("",),
    "role.system_notice": ("system", "admin", "developer"),
    "steer.ignore_user": ("ignore", "disregard"),
    "exfiltrate.reveal": ("reveal", "print", "output", "dump", "leak", "disclose", "reply", "respond"),
    "steer.new_role": (
        "role",
        "persona",
        "purpose",
        "now",
        "longer",
        "pretend",
        "unrestricted",
        "unfiltered",
        "uncensored",
    ),
}
#: Patterns that name the model (`_MODEL` after a word boundary): they run only on a text where
#: `_MODEL_WORD` finds one, a single scan shared by all of them.
_NEEDS_MODEL = frozenset({"addressed.note", "addressed.if_you_are", "addressed.dear", "addressed.vocative"})
_MODEL_WORD = re.compile(rf"\b{_MODEL}")
assert set(_NEEDLES) == {name for name, _, _ in _PATTERNS}


class IndirectInjectionDetector:
    name = "heuristic-indirect"

    def __init__(self, direct: InjectionDetector) -> None:
        self._direct = direct

    def detect(self, text: str, rule: CheckRule, *, context: str | None, digest: Digest) -> Detection:
        if not text.strip():
            return Detection((), self.name, 0.0)
        findings, score = self._score(text, rule, context=context, digest=digest)
        threshold = rule.effective_threshold or 0.0
        if score >= threshold and (unquoted := _without_quoted_examples(text)) is not None:
            # Security training that quotes an attack to warn about it: what fired was the quotation.
            _, unquoted_score = self._score(unquoted, rule, context=context, digest=digest)
            if unquoted_score < threshold:
                return Detection((), self.name, unquoted_score)
        if score < threshold:
            return Detection((), self.name, score)
        return Detection(tuple(sorted(findings, key=lambda f: f.start)), self.name, score)

    def _score(self, text: str, rule: CheckRule, *, context: str | None, digest: Digest) -> tuple[list[Finding], float]:
        direct = self._direct.detect(text, rule, context=context, digest=digest)
        findings = [
            Finding(Check.INDIRECT_INJECTION, f.entity_type, f.start, f.end, f.score, detail=f.detail)
            for f in direct.findings
        ]
        miss = 1.0 - direct.score
        # A JSON string keeps its line breaks as `\n`; read them as breaks (same length, same offsets).
        lines = text.replace("\\n", "\n ") if "\\n" in text else text
        low = lines.lower()
        model_named = _MODEL_WORD.search(low) is not None
        for name, weight, pattern in _PATTERNS:
            if not any(needle in low for needle in _NEEDLES[name]) or (name in _NEEDS_MODEL and not model_named):
                continue
            match = pattern.search(text)
            if match is not None:
                findings.append(Finding(Check.INDIRECT_INJECTION, name, match.start(), match.end(), weight))
                miss *= 1.0 - weight
        clear = _deobfuscated(lines)
        for name, weight, rule_span in _STRUCTURE:
            span = rule_span(lines, low)
            if span is None and clear is not None and rule_span(clear, clear.lower()) is not None:
                span = (0, len(text))  # found once invisible characters and homoglyphs are read through
            if span is not None:
                findings.append(Finding(Check.INDIRECT_INJECTION, name, span[0], span[1], weight))
                miss *= 1.0 - weight
        return findings, 1.0 - miss


#: A quotation introduced as an example ("such as '...'", "a message saying '...'", "Example of a
#: malicious prompt: '...'"), and words that say the text warns about attacks rather than makes one.
_EXAMPLE_QUOTE = re.compile(
    r"(?:such\s+as|saying|says|e\.g\.|for\s+example|for\s+instance|example(?:\s+of\s+[\w\s]{1,30}?)?)\s*:?\s*"
    r"(?:\\?['\"\u2018\u201c])(.{4,300}?)(?:\\?['\"\u2019\u201d])",
    re.IGNORECASE | re.DOTALL,
)
_WARNING = re.compile(
    r"\b(?:phishing|attack(?:s|ers?)?|malicious|injection|suspicious|scam|never|report|do\s+not\s+follow|beware)\b",
    re.IGNORECASE,
)


def _without_quoted_examples(text: str) -> str | None:
    """`text` with its quoted examples blanked (same length), when it quotes an example and warns
    about it outside the quotation; None otherwise (the common case: one scan for a warning word)."""
    if _WARNING.search(text) is None:
        return None
    quotes = [match.span(1) for match in _EXAMPLE_QUOTE.finditer(text)]
    if not quotes:
        return None
    chars = list(text)
    for start, end in quotes:
        chars[start:end] = " " * (end - start)
    unquoted = "".join(chars)
    return unquoted if _WARNING.search(unquoted) else None
