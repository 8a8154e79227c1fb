"""Token counting for providers that report no usage, and for the sandbox.

A real BPE tokenizer (tiktoken) downloads its vocabulary at run time, which this product must
not depend on; this estimate follows the common ~4 characters per token rule closely enough for
metering and budget reservations, and is flagged as estimated wherever it is used.
"""

import re

_PIECES = re.compile(r"\w{1,4}|[^\w\s]", re.UNICODE)


def estimate_tokens(text: str) -> int:
    """Tokens in `text`: words split into pieces of at most four characters, plus punctuation."""
    return len(_PIECES.findall(text))
