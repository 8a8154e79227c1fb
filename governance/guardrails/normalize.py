"""Text views that undo common obfuscation, each keeping a map back to the original characters.

`basic_view` applies NFKC (full-width and mathematical letters, ligatures), drops invisible
format characters (zero-width spaces and joiners, bidi marks, soft hyphens, variation selectors),
and lower-cases. `folded_view` goes further for Latin-script matching: it maps
Unicode confusables to their ASCII look-alikes (Cyrillic a -> Latin a, from the Unicode confusables
table shipped by `confusable-homoglyphs`), strips diacritics and undoes leetspeak inside words
(`1gn0r3` -> `ignore`). Because `1` stands for both `i` and `l`, the folded view writes every `l`
as `i`: patterns matched against it go through `fold_pattern`. `despace` then joins letters
spelled out one at a time (`i g n o r e`).

Every view keeps `origin`, the index in the original text of each character, so a match in a
view can be masked in the original.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s"})
_LEET_INNER = str.maketrans({"!": "i", "|": "i"})
_LEET_TOKEN = re.compile(r"[a-z0-9@$!|]*(?:[a-z][0-9@$!|]|[0-9@$!|][a-z])[a-z0-9@$!|]*")
_HAS_LEET = re.compile(r"[0-9@$!|]")
_SPACED_RUN = re.compile(r"(?<![a-z0-9])[a-z0-9](?:[\s._\-*~+/]{1,3}[a-z0-9]){3,}(?![a-z0-9])")
_SPACED_SEPARATORS = re.compile(r"[\s._\-*~+/]")


@dataclass(frozen=True)
class View:
    """A normalized view of a text; `origin[i]` is the original index of `text[i]`."""

    text: str
    origin: tuple[int, ...]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        if not self.origin or start >= end:
            return (0, 0)
        return (self.origin[start], self.origin[min(end, len(self.origin)) - 1] + 1)


def basic_view(text: str) -> View:
    if text.isascii():
        return View(text.lower(), tuple(range(len(text))))
    out: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for piece in _basic_char(char):
            out.append(piece)
            origin.append(index)
    return View("".join(out), tuple(origin))


def folded_view(text: str) -> View:
    if text.isascii():
        folded, origin = text.lower(), tuple(range(len(text)))
    else:
        out: list[str] = []
        origin_list: list[int] = []
        for index, char in enumerate(text):
            for piece in _fold_char(char):
                out.append(piece)
                origin_list.append(index)
        folded, origin = "".join(out), tuple(origin_list)
    if _HAS_LEET.search(folded):
        folded = _LEET_TOKEN.sub(_unleet, folded)
    return View(folded.replace("l", "i"), origin)


def despace(view: View) -> View:
    """Joins runs of single letters separated by spaces or punctuation: `i g n o r e` -> `ignore`."""
    if not _SPACED_RUN.search(view.text):
        return view
    out: list[str] = []
    origin: list[int] = []
    cursor = 0
    for match in _SPACED_RUN.finditer(view.text):
        out.append(view.text[cursor : match.start()])
        origin.extend(view.origin[cursor : match.start()])
        for offset, char in enumerate(match.group(), start=match.start()):
            if not _SPACED_SEPARATORS.match(char):
                out.append(char)
                origin.append(view.origin[offset])
        cursor = match.end()
    out.append(view.text[cursor:])
    origin.extend(view.origin[cursor:])
    return View("".join(out), tuple(origin))


def fold_pattern(pattern: str) -> str:
    """A lower-case ASCII regex rewritten for the folded view (where `l` reads as `i`)."""
    return pattern.replace("l", "i")


def fold_words(text: str) -> str:
    """The folded form of a short phrase, for building patterns from word lists."""
    return folded_view(text).text


def _unleet(match: re.Match[str]) -> str:
    token = match.group()
    if not _HAS_LEET.search(token):
        return token
    stripped = token.rstrip("!|")
    tail = token[len(stripped) :]
    return stripped.translate(_LEET).translate(_LEET_INNER) + tail


@lru_cache(maxsize=8192)
def _basic_char(char: str) -> str:
    if char.isascii():
        return char.lower()
    category = unicodedata.category(char)
    if category == "Cf" or "\ufe00" <= char <= "\ufe0f":
        return ""
    return unicodedata.normalize("NFKC", char).lower()


@lru_cache(maxsize=8192)
def _fold_char(char: str) -> str:
    """One original character folded: confusables are looked up before lower-casing, since
    Unicode lists the Greek capital epsilon as confusable with `E`, but not the small one with `e`."""
    if char.isascii():
        return char.lower()
    category = unicodedata.category(char)
    if category == "Cf" or "\ufe00" <= char <= "\ufe0f":
        return ""
    pieces = []
    for piece in unicodedata.normalize("NFKC", char):
        piece = _confusables().get(piece, piece)
        decomposed = unicodedata.normalize("NFKD", piece)
        stripped = "".join(mark for mark in decomposed if not unicodedata.combining(mark))
        pieces.append((stripped or piece).lower())
    return "".join(pieces)


@cache
def _confusables() -> dict[str, str]:
    """Each non-ASCII character that Unicode lists as confusable with an ASCII letter or digit."""
    from confusable_homoglyphs.confusables import confusables_data

    table: dict[str, str] = {}
    # Letters first, so a character confusable with both `o` and `0` reads as the letter.
    targets = [chr(code) for code in range(ord("a"), ord("z") + 1)]
    targets += [chr(code) for code in range(ord("A"), ord("Z") + 1)]
    targets += [str(digit) for digit in range(10)]
    for target in targets:
        for entry in confusables_data.get(target, ()):
            homoglyph = entry["c"]
            if len(homoglyph) == 1 and not homoglyph.isascii():
                table.setdefault(homoglyph, target.lower())
    return table
