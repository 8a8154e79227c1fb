"""What a centrally readable record keeps of text a LOB wrote: a digest, never the text.

The audit log, central pages and exports are read by the central team and the board, who must not
read a LOB's agent instructions, tool descriptions, prompt text or document text without
break-glass. A digest still proves what was saved (the LOB can hash its own copy and compare),
and its length says how much changed."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def text_digest(value: Any) -> dict[str, Any] | None:
    """`{"sha256": ..., "chars": n}` of a text (or of a JSON value, canonically serialised); None stays None."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return {"sha256": hashlib.sha256(text.encode()).hexdigest(), "chars": len(text)}
