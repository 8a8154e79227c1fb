"""Turning an uploaded document into text and overlapping chunks; pure functions, no I/O.

Parsing uses maintained libraries (pypdf, Beautiful Soup) and chunking uses
semantic-text-splitter, which cuts at the largest semantic unit that fits (sections, paragraphs,
sentences, then words) rather than at a fixed character count.
"""

from __future__ import annotations

import io
import mimetypes

from bs4 import BeautifulSoup
from semantic_text_splitter import MarkdownSplitter, TextSplitter

PLAIN, MARKDOWN, HTML, PDF = "text/plain", "text/markdown", "text/html", "application/pdf"
SUPPORTED_CONTENT_TYPES = (PLAIN, MARKDOWN, HTML, PDF)
_SUFFIXES = {".md": MARKDOWN, ".markdown": MARKDOWN, ".txt": PLAIN, ".htm": HTML, ".html": HTML, ".pdf": PDF}
#: File name endings read without a declared content type (what the ingest command picks up).
SUPPORTED_SUFFIXES = frozenset(_SUFFIXES)


class DocumentError(ValueError):
    """The document cannot be read; the message says why, for the person who uploaded it."""


def content_type_for(filename: str, declared: str = "") -> str:
    """The content type to parse with: the declared one, else guessed from the file name."""
    declared = declared.split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream":
        chosen = declared
    else:
        suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        chosen = _SUFFIXES.get(suffix) or (mimetypes.guess_type(filename)[0] or "")
    if chosen not in SUPPORTED_CONTENT_TYPES:
        raise DocumentError(
            f"unsupported content type {chosen or 'unknown'!r}; supported: {', '.join(SUPPORTED_CONTENT_TYPES)}"
        )
    return chosen


def extract_text(content: bytes, content_type: str) -> str:
    if content_type == PDF:
        return _pdf_text(content)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DocumentError("the document is not valid UTF-8 text") from None
    if content_type == HTML:
        soup = BeautifulSoup(text, "html.parser")
        for element in soup(["script", "style", "noscript", "template"]):
            element.decompose()
        text = soup.get_text("\n")
    text = "\n".join(line.rstrip() for line in text.splitlines())
    if not text.strip():
        raise DocumentError("the document has no text")
    return text


def split_text(text: str, content_type: str, *, chunk_size: int, overlap: int) -> list[str]:
    """Chunks of at most `chunk_size` characters, neighbours sharing up to `overlap` characters."""
    overlap = min(overlap, chunk_size // 2)
    splitter_class = MarkdownSplitter if content_type == MARKDOWN else TextSplitter
    splitter = splitter_class(chunk_size, overlap=overlap, trim=True)
    chunks: list[str] = []
    carried = ""
    for chunk in splitter.chunks(text):
        if not chunk.strip():
            continue
        # A heading alone is split off when its section does not fit; it belongs to what follows.
        if len(chunk) < chunk_size // 5:
            carried = f"{carried}\n{chunk}".strip()
            continue
        chunks.append(f"{carried}\n\n{chunk}" if carried else chunk)
        carried = ""
    if carried:
        chunks.append(carried)
    return chunks


def _pdf_text(content: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            raise DocumentError("the PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError) as exc:
        raise DocumentError(f"the PDF cannot be read: {exc}") from None
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise DocumentError("the PDF has no extractable text (scanned images need OCR first)")
    return text
