"""The provider registry: stable provider id -> adapter factory.

Each entry imports its adapter module only when first used, so a gateway image without the
cloud SDK extras still starts; a worker whose extra is missing fails that provider's calls with
a clear `unavailable` error instead of crashing at import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

from .types import AccountConfig, ErrorKind, ProviderAdapter, ProviderError

AdapterFactory = Callable[[AccountConfig], ProviderAdapter]


def _sandbox() -> AdapterFactory:
    from .sandbox import SandboxAdapter

    return SandboxAdapter


def _bedrock() -> AdapterFactory:
    from .bedrock import BedrockAdapter

    return BedrockAdapter


def _vertex() -> AdapterFactory:
    from .vertex import VertexAdapter

    return VertexAdapter


def _azure_openai() -> AdapterFactory:
    from .azure_openai import AzureOpenAIAdapter

    return AzureOpenAIAdapter


def _oci() -> AdapterFactory:
    from .oci import OCIAdapter

    return OCIAdapter


def _openai_compatible() -> AdapterFactory:
    from .openai_compatible import OpenAICompatibleAdapter

    return OpenAICompatibleAdapter


def _local() -> AdapterFactory:
    from .local_embeddings import LocalEmbeddingAdapter

    return LocalEmbeddingAdapter


#: provider id -> (human label, loader). The ids are stored in the catalog: never rename one.
PROVIDERS: Mapping[str, tuple[str, Callable[[], AdapterFactory]]] = MappingProxyType(
    {
        "sandbox": ("Sandbox (offline demo and test provider)", _sandbox),
        "bedrock": ("AWS Bedrock", _bedrock),
        "vertex": ("Google Vertex AI", _vertex),
        "azure_openai": ("Azure OpenAI", _azure_openai),
        "oci": ("Oracle OCI Generative AI", _oci),
        "openai_compatible": ("OpenAI-compatible server", _openai_compatible),
        "local": ("Local embedding models (sentence-transformers, offline)", _local),
    }
)

PROVIDER_CHOICES: tuple[tuple[str, str], ...] = tuple((key, label) for key, (label, _) in PROVIDERS.items())


def queue_name(provider: str) -> str:
    """The Celery queue whose workers invoke `provider` (and hold its credentials)."""
    return f"provider.{provider}"


def build_adapter(config: AccountConfig) -> ProviderAdapter:
    try:
        _, loader = PROVIDERS[config.provider]
    except KeyError:
        raise ProviderError(ErrorKind.BAD_REQUEST, f"unknown provider {config.provider!r}") from None
    try:
        factory = loader()
    except ImportError as exc:
        raise ProviderError(
            ErrorKind.UNAVAILABLE,
            f"provider {config.provider!r} is not installed in this worker ({exc.name}); "
            f"install the genai-platform[{config.provider}] extra",
        ) from exc
    return factory(config)


def adapters_import(providers: Iterable[str]) -> list[str]:
    """Imports the adapter modules (and so the SDKs) of `providers`; returns those it could import.

    A worker calls this once it is ready, so that its first call does not pay the SDK's import
    (0.1 to 0.6 s of CPU each) on the critical path. A provider whose extra is missing is skipped:
    its calls fail with the usual `unavailable` error."""
    imported = []
    for provider in providers:
        entry = PROVIDERS.get(provider)
        if entry is None:
            continue
        try:
            entry[1]()
        except ImportError:
            continue
        imported.append(provider)
    return imported
