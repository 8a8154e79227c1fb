"""The `local` provider: all-MiniLM-L6-v2 from its Python package, run in-process with no network,
and a catalog deployment on it embedding a vector store's documents and questions end to end.

Loading the model takes seconds, so it is loaded once for the module (the adapter keeps one
model per process)."""

from __future__ import annotations

import math
import socket

import pytest
from django.test import TestCase

from genai_platform.inference.principal import use_case_principal
from genai_platform.providers.local_embeddings import LocalEmbeddingAdapter
from genai_platform.providers.types import (
    AccountConfig,
    ChatRequest,
    EmbeddingRequest,
    ErrorKind,
    Message,
    ProviderError,
)
from governance.models import ModelApproval
from lob_tenants.models import DataClassification
from lob_tenants.vector_stores.retrieval import search
from lob_tenants.vector_stores.selectors import store_ref
from lob_tenants.vector_stores.services import Upload, documents_ingest
from tests.factories import (
    AliasFactory,
    CatalogModelFactory,
    DeploymentFactory,
    ProviderAccountFactory,
    UseCaseFactory,
    vector_store,
)

MODEL = "all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def offline():
    """No hub, and no network but loopback: whatever the model needs must already be on disk."""
    real_connect = socket.socket.connect

    def loopback_only(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not host.startswith(("127.", "::1", "localhost", "/")):
            raise OSError(f"network access to {host} during an offline test")
        return real_connect(sock, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        patch.setattr(socket.socket, "connect", loopback_only)
        yield


@pytest.fixture(scope="module")
def adapter(offline) -> LocalEmbeddingAdapter:
    adapter = LocalEmbeddingAdapter(AccountConfig(provider="local", options={"batch_size": 4}))
    adapter.embed(EmbeddingRequest(model=MODEL, inputs=("warm up",)))  # loads the model, once
    return adapter


def embed(adapter: LocalEmbeddingAdapter, *texts: str) -> list[tuple[float, ...]]:
    return list(adapter.embed(EmbeddingRequest(model=MODEL, inputs=texts)).vectors)


def cosine(a, b) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))  # the vectors are unit length


def test_it_embeds_offline_into_384_dimensions(adapter):
    [vector] = embed(adapter, "The cat sits on the mat.")

    assert len(vector) == 384
    assert all(isinstance(x, float) for x in vector)


def test_vectors_are_normalized(adapter):
    vectors = embed(adapter, "short", "A much longer sentence about interest rates on savings accounts.")

    assert [round(math.sqrt(sum(x * x for x in v)), 5) for v in vectors] == [1.0, 1.0]


def test_similar_sentences_are_closer_than_unrelated_ones(adapter):
    refund, money_back, weather = embed(
        adapter,
        "How do I get a refund for a product I returned?",
        "I sent the item back; when will I get my money back?",
        "It will rain heavily in the mountains tomorrow afternoon.",
    )

    assert cosine(refund, money_back) > cosine(refund, weather) + 0.2


def test_a_batch_gives_each_input_its_own_vector_in_order(adapter):
    texts = [f"Sentence number {i} about topic {i % 3}." for i in range(10)]  # more than one batch of 4

    together = embed(adapter, *texts)
    alone = [embed(adapter, text)[0] for text in texts]

    assert len(together) == 10
    assert all(cosine(a, b) > 0.9999 for a, b in zip(together, alone, strict=True))


def test_usage_counts_the_input_tokens(adapter):
    response = adapter.embed(EmbeddingRequest(model=MODEL, inputs=("one two three", "four five")))

    assert response.usage.input_tokens > 0 and response.usage.output_tokens == 0


def test_asking_for_other_dimensions_or_an_unknown_model_is_refused(adapter):
    with pytest.raises(ProviderError) as wrong_size:
        adapter.embed(EmbeddingRequest(model=MODEL, inputs=("x",), dimensions=768))
    with pytest.raises(ProviderError) as unknown:
        adapter.embed(EmbeddingRequest(model="no-such-model", inputs=("x",)))

    assert wrong_size.value.kind == ErrorKind.BAD_REQUEST
    assert unknown.value.kind == ErrorKind.NOT_FOUND


def test_it_serves_no_chat(adapter):
    with pytest.raises(ProviderError) as refused:
        adapter.chat(ChatRequest(model=MODEL, messages=(Message(role="user", content="hi"),)))

    assert refused.value.kind == ErrorKind.BAD_REQUEST


# ---- as a catalog deployment behind a vector store ----

POLICIES = {
    "refunds": "Customers can send back unopened goods within thirty days and receive their money in full.",
    "warranty": "Appliances are guaranteed against manufacturing faults for two years after purchase.",
    "delivery": "Parcels are dispatched within two working days by our courier partner.",
}


@pytest.fixture
def local_alias(adapter):
    account = ProviderAccountFactory(provider="local")
    model = CatalogModelFactory(name="minilm", supports_embeddings=True, supports_tools=False)
    deployment = DeploymentFactory(account=account, model=model, provider_model_id=MODEL)
    alias = AliasFactory(name="minilm", deployments=[deployment])
    ModelApproval.objects.create(alias=alias, classifications=list(DataClassification.values), approved_by="test")
    return alias


@pytest.mark.django_db
@pytest.mark.usefixtures("vector_db")
def test_a_store_embedded_by_the_local_deployment_retrieves_the_chunk_that_answers(local_alias):
    store = vector_store(embedding_alias=local_alias, dimensions=384)
    uploads = [
        Upload(external_id=slug, filename=f"{slug}.txt", content=text.encode()) for slug, text in POLICIES.items()
    ]
    with TestCase.captureOnCommitCallbacks(execute=True):
        documents_ingest(store=store, uploads=uploads, actor=None)
    asker = use_case_principal(UseCaseFactory(lob=store.lob))

    # No word of the question is in the answer's chunk: only a semantic model finds it.
    hits = search(store_ref(store), asker, "How long do I have to return an item for a refund?", top_k=3)

    assert store.documents.filter(status="ready").count() == 3
    assert hits[0].document_id == "refunds"
    assert hits[0].score > hits[1].score
