"""Secrets and credentials with detect-secrets' plugins, run on a string in memory.

Three layers, all from detect-secrets:

* The provider-specific detectors (AWS, Azure storage, GitHub, GitLab, Slack, Stripe, OpenAI,
  Twilio, SendGrid, npm, PyPI, JWT, private keys, basic-auth URLs, ...) run as they are, through
  each plugin's own `analyze_string` (so a JWT must decode, for example). No plugin's `verify`
  is ever called: nothing leaves the process.
* `KeywordDetector` finds assignments to secret-sounding names (`password = "..."`,
  `api_key: ...`). In prose a value counts only when it looks like a credential (six or more
  characters with a digit, symbol or inner capital), so "Password: required" is not a secret.
* The high-entropy plugins (`Base64HighEntropyString`, `HexHighEntropyString`) require quotes in
  code. Prompts rarely quote keys, so here an unquoted high-entropy token counts only when a
  credential word ("token", "secret", "api key", "password", ...) precedes it on the same line.
  A commit hash, checksum or UUID with no such word stays unflagged.

Results pass detect-secrets' heuristic filters (UUIDs, sequential strings, templated values,
`$VARIABLES`, `...id` names). A private key's whole PEM block is reported, not just its header.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from detect_secrets.filters import heuristic
from detect_secrets.plugins.artifactory import ArtifactoryDetector
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.cloudant import CloudantDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString
from detect_secrets.plugins.ibm_cloud_iam import IbmCloudIamDetector
from detect_secrets.plugins.ibm_cos_hmac import IbmCosHmacDetector
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.keyword import (
    CONFIG_DENYLIST_REGEX_TO_GROUP,
    DENYLIST,
    QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP,
    KeywordDetector,
)
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.softlayer import SoftlayerDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

from ..policy import Check, CheckRule
from ..results import Finding
from .base import Detection, Digest

# IPPublicDetector is left out: IP addresses are personal data, handled by the pii check.
PROVIDER_PLUGINS: tuple[type[RegexBasedDetector], ...] = (
    ArtifactoryDetector,
    AWSKeyDetector,
    AzureStorageKeyDetector,
    BasicAuthDetector,
    CloudantDetector,
    DiscordBotTokenDetector,
    GitHubTokenDetector,
    GitLabTokenDetector,
    IbmCloudIamDetector,
    IbmCosHmacDetector,
    JwtTokenDetector,
    MailchimpDetector,
    NpmDetector,
    OpenAIDetector,
    PrivateKeyDetector,
    PypiTokenDetector,
    SendGridDetector,
    SlackDetector,
    SoftlayerDetector,
    SquareOAuthDetector,
    StripeDetector,
    TelegramBotTokenDetector,
    TwilioKeyDetector,
)
# detect-secrets' default limits are 4.5 (base64) and 3.0 (hex) for quoted strings; with a
# credential word required instead of quotes, a 16-character random key (entropy ~3.6-4.0) counts.
BASE64_ENTROPY_LIMIT = 3.5
HEX_ENTROPY_LIMIT = 3.0
MIN_ENTROPY_TOKEN = 16
CREDENTIAL_WINDOW = 48
MIN_SECRET_GROUP = 12

_CREDENTIAL_WORD = re.compile(
    r"(?i)(?<![a-z])(?:api[\s_-]?key|apikey|access[\s_-]?key|secret|token|passw(?:or)?d|pwd|passphrase|"
    r"credentials?|auth(?:orization)?|bearer|private[\s_-]?key|signing[\s_-]?key|session[\s_-]?key|"
    r"conn(?:ection)?[\s_-]?string|(?<!public )(?<!primary )(?<!foreign )(?<!sort )(?<!partition )key)(?![a-z])"
)
_ENTROPY_TOKEN = re.compile(
    rf"(?<![A-Za-z0-9+/=_\-])[A-Za-z0-9+/_\-]{{{MIN_ENTROPY_TOKEN},}}={{0,2}}(?![A-Za-z0-9+/=_\-])"
)
_KEYWORD_HINT = re.compile("|".join(DENYLIST), re.IGNORECASE)
# Literals every match of the two case-insensitive word lists above contains, looked for in the
# case-folded line first: `in` on a string costs far less than a case-insensitive alternation, and
# most lines hold none of them (case folding maps what IGNORECASE matches, such as the long s and the Kelvin
# sign, to the ASCII letters, so a line the regex would match is never skipped).
_KEYWORD_LITERALS = ("key", "pass", "pwd", "secret", "contrase")
_CREDENTIAL_LITERALS = ("key", "secret", "token", "pass", "pwd", "credential", "auth", "bearer", "conn")
KEYWORD_WINDOW = 160
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_PUBLIC_KEY_PREFIX = re.compile(r"(?:ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-nistp\d+|sha\d*[-:])\s*$", re.IGNORECASE)
_CREDENTIAL_SHAPED = re.compile(r"(?=.*[0-9\W_])|(?=.+[A-Z])")
# Names standing in for a value: YOUR_API_KEY_HERE, CHANGE_ME, <token>, xxxxxx, example-key.
_PLACEHOLDER = re.compile(
    r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$|(?i:your|here|example|changeme|change_me|dummy|placeholder|redacted)|^(.)\1+$"
)
_JWT_TAIL = re.compile(r"[A-Za-z0-9_\-+/=.]*")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
# Base64 lines of a PEM body (an unterminated block ends where these lines end).
_PEM_BODY = re.compile(r"(?:[ \t]*[A-Za-z0-9+/=]{16,}[ \t]*(?:\r?\n|$))+")


# Beyond detect-secrets' plugins: an SSH public key line (it identifies a person's or a machine's key
# and the host it unlocks), and a database URL or ADO.NET/ODBC connection string carrying a password.
_SSH_PUBLIC_KEY = re.compile(
    r"\b(?:ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com)\s+AAAA[0-9A-Za-z+/]{40,}={0,3}"
)
_DATABASE_URL = re.compile(
    r"\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|redis|rediss|amqps?|mssql|sqlserver|oracle|"
    r"clickhouse|cockroachdb|snowflake)(?:\+[a-z0-9]+)?://[^\s:/@]+:[^\s@/]{3,}@[^\s/]+[^\s\"'<>]*",
    re.IGNORECASE,
)
_CONNECTION_STRING = re.compile(
    r"(?i)\b(?:server|data source|host)\s*=[^;\n]{1,100};(?:[^;\n]{1,100};)*?\s*(?:password|pwd)\s*=\s*[^;\s]{4,}"
)
_PASSWORD_PART = re.compile(r"(?i)://[^\s:/@]+:([^\s@/]+)@|(?:password|pwd)\s*=\s*([^;\s]+)")
_PLACEHOLDER_PASSWORDS = frozenset({"password", "passwd", "pass", "secret", "changeme", "pwd", "xxx", "xxxx", "****"})


def _placeholder_password(value: str) -> bool:
    """`postgres://user:password@localhost`, `Password=<your password>`: documentation, not a secret."""
    match = _PASSWORD_PART.search(value)
    password = next((group for group in match.groups() if group), "") if match else ""
    if not password:
        return False
    return (
        password.lower() in _PLACEHOLDER_PASSWORDS
        or password[0] in "<{$*"
        or set(password) <= {"*", "x", "X"}
        or bool(_PLACEHOLDER.search(password))
    )


# Literals that every match of a provider plugin's pattern contains, for the costliest patterns
# (assignment-style ones scanned case-insensitively from every position): a line holding none of them
# is not scanned with that pattern. Keyed by the pattern's source; `True` compares the case-folded line
# (the pattern ignores case), `False` the line as it is. `tests/guardrails/test_secrets.py` checks
# that the findings are the same with and without these gates on every labelled text.
_PATTERN_LITERALS: dict[str, tuple[tuple[str, ...], bool]] = {}


def _gate(plugin: type[RegexBasedDetector], index: int, literals: tuple[str, ...], folded: bool) -> None:
    _PATTERN_LITERALS[plugin().denylist[index].pattern] = (literals, folded)


_gate(IbmCloudIamDetector, 0, ("key", "pwd", "pass", "token"), True)
_gate(IbmCosHmacDetector, 0, ("secret",), True)
_gate(SoftlayerDetector, 0, ("key", "pwd", "pass", "token"), True)
_gate(SoftlayerDetector, 1, ("softlayer",), True)
_gate(CloudantDetector, 0, ("key", "pw", "pass", "token"), True)
_gate(CloudantDetector, 1, ("key", "pw", "pass", "token"), True)
_gate(CloudantDetector, 2, ("cloudant",), True)
_gate(CloudantDetector, 3, ("cloudant",), True)
_gate(ArtifactoryDetector, 0, ("AKC",), False)
_gate(ArtifactoryDetector, 1, ("AP",), False)
_gate(MailchimpDetector, 0, ("-us",), False)

_EXTRA_PATTERNS = (
    ("SSH_PUBLIC_KEY", _SSH_PUBLIC_KEY),
    ("DATABASE_CONNECTION_STRING", _DATABASE_URL),
    ("DATABASE_CONNECTION_STRING", _CONNECTION_STRING),
)


class SecretsDetector:
    name = "detect-secrets"

    def __init__(self) -> None:
        self._providers: tuple[RegexBasedDetector, ...] = tuple(plugin() for plugin in PROVIDER_PLUGINS)
        self._patterns = [
            (plugin, regex, *_PATTERN_LITERALS.get(regex.pattern, ((), False)))
            for plugin in self._providers
            for regex in plugin.denylist
        ]
        self._keyword = KeywordDetector()
        self._base64 = Base64HighEntropyString(limit=BASE64_ENTROPY_LIMIT)
        self._hex = HexHighEntropyString(limit=HEX_ENTROPY_LIMIT)

    def detect(self, text: str, rule: CheckRule, *, context: str | None, digest: Digest) -> Detection:
        findings: dict[tuple[int, int], Finding] = {}
        for line_start, line in _lines(text):
            if not line.strip():  # a blank line holds nothing any plugin matches
                continue
            for entity_type, start, end in self._scan_line(line):
                start, end = line_start + start, line_start + end
                if entity_type == "PRIVATE_KEY":
                    start, end = _private_key_span(text, start, end)
                if (start, end) not in findings:
                    findings[(start, end)] = Finding(
                        check=Check.SECRETS,
                        entity_type=entity_type,
                        start=start,
                        end=end,
                        score=1.0,
                        digest=digest(entity_type, text[start:end]),
                    )
        ordered = _drop_contained(sorted(findings.values(), key=lambda item: (item.start, -item.end)))
        return Detection(tuple(ordered), self.name, 1.0 if ordered else 0.0)

    def _scan_line(self, line: str) -> Iterator[tuple[str, int, int]]:
        for entity_type, pattern in _EXTRA_PATTERNS:
            for match in pattern.finditer(line):
                if not _placeholder_password(match.group()):
                    yield entity_type, match.start(), match.end()
        folded = line.casefold()
        for plugin, regex, literals, fold in self._patterns:
            if literals and not any(literal in (folded if fold else line) for literal in literals):
                continue
            for match in regex.finditer(line):
                span = _secret_span(plugin, match)
                if span is not None and isinstance(plugin, JwtTokenDetector):
                    # The plugin's pattern ends lazily, so its match can stop before the signature:
                    # the finding (and the mask) covers the whole token.
                    span = (span[0], _JWT_TAIL.match(line, span[1]).end())
                if span is not None:
                    yield _entity_type(plugin), *span
        hints = _KEYWORD_HINT.finditer(line) if any(word in folded for word in _KEYWORD_LITERALS) else ()
        for hint in hints:
            offset = max(0, hint.start() - KEYWORD_WINDOW)
            for start, end in self._keyword_assignments(line[offset : hint.end() + KEYWORD_WINDOW]):
                yield "SECRET_KEYWORD", offset + start, offset + end
        if any(word in folded for word in _CREDENTIAL_LITERALS) and _CREDENTIAL_WORD.search(line):
            yield from self._high_entropy(line)

    def _keyword_assignments(self, line: str) -> Iterator[tuple[int, int]]:
        """Assignments to secret-sounding names in `line`, a window around one such name."""
        values: set[str] = set()
        for regexes in (QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP, CONFIG_DENYLIST_REGEX_TO_GROUP):
            values.update(self._keyword.analyze_string(line, denylist_regex_to_group=regexes))
        for value in values:
            value = value.strip().rstrip(".,;")
            if len(value) < 6 or any(char.isspace() for char in value) or _PLACEHOLDER.search(value):
                continue
            if not _CREDENTIAL_SHAPED.match(value) or _filtered(value, line, self._keyword):
                continue
            if heuristic.is_indirect_reference(line):
                continue
            for start in _occurrences(line, value):
                yield start, start + len(value)

    def _high_entropy(self, line: str) -> Iterator[tuple[str, int, int]]:
        for match in _ENTROPY_TOKEN.finditer(line):
            token = match.group()
            window = line[max(0, match.start() - CREDENTIAL_WINDOW) : match.start()]
            if not _CREDENTIAL_WORD.search(window) or _PUBLIC_KEY_PREFIX.search(window):
                continue
            plugin = self._hex if _HEX.match(token) else self._base64
            if not any(char.isdigit() for char in token) or not any(char.isalpha() for char in token):
                continue
            if plugin.calculate_shannon_entropy(token) <= plugin.entropy_limit or _filtered(token, line, plugin):
                continue
            yield "HIGH_ENTROPY_SECRET", match.start(), match.end()


def _secret_span(plugin: RegexBasedDetector, match: re.Match[str]) -> tuple[int, int] | None:
    """The span of the secret in a denylist match, if the plugin's own checks accept it.

    Each plugin's `analyze_string` is the judge (a JWT must decode, for example); it yields the
    regex's first non-empty group, which is the secret itself for assignment-style patterns and
    only a prefix (`ghp`) for token formats, where the whole match is the secret."""
    values = [value for value in plugin.analyze_string(match.group()) if value]
    if not values or any(heuristic.is_templated_secret(value) for value in values):
        return None
    value = max(values, key=len)
    if len(value) >= MIN_SECRET_GROUP:
        offset = match.group().find(value)
        if offset != -1:
            return match.start() + offset, match.start() + offset + len(value)
    return match.start(), match.end()


def _filtered(value: str, line: str, plugin: BasePlugin) -> bool:
    return (
        heuristic.is_sequential_string(value)
        or heuristic.is_potential_uuid(value)
        or heuristic.is_templated_secret(value)
        or heuristic.is_prefixed_with_dollar_sign(value)
        or heuristic.is_not_alphanumeric_string(value)
        or heuristic.is_likely_id_string(value, line, plugin)
    )


def _entity_type(plugin: BasePlugin) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", plugin.secret_type.upper()).strip("_")


def _lines(text: str) -> Iterator[tuple[int, str]]:
    start = 0
    for line in text.splitlines(keepends=True):
        yield start, line.rstrip("\r\n")
        start += len(line)


def _occurrences(line: str, value: str) -> Iterator[int]:
    start = line.find(value)
    while start != -1:
        yield start
        start = line.find(value, start + len(value))


def _private_key_span(text: str, start: int, header_end: int) -> tuple[int, int]:
    """The whole PEM block whose header is at `start`: through its END line, else its body."""
    start = start - 5 if text[max(0, start - 5) : start] == "-----" else start
    end = _PEM_END.search(text, header_end)
    if end is not None and end.start() - header_end < 16_384:
        return start, end.end()
    line_end = text.find("\n", header_end)
    if line_end == -1:
        return start, len(text)
    body = _PEM_BODY.match(text, line_end + 1)
    return start, body.end() if body else line_end


def _drop_contained(findings: list[Finding]) -> list[Finding]:
    kept: list[Finding] = []
    for finding in findings:
        if kept and finding.end <= kept[-1].end:
            continue
        kept.append(finding)
    return kept
