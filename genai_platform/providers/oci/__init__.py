"""Oracle OCI Generative AI, through the `oci` SDK's GenerativeAiInferenceClient.

OCI serves chat models in two request shapes behind one `chat` action: GENERIC (Meta Llama, xAI
Grok, OpenAI gpt-oss, Google Gemini: OpenAI-like role messages and function tools) and COHERE
(Cohere Command: one `message`, a `chat_history`, a `preamble_override` and Cohere tools). The
format follows `options["api_format"]` when set, otherwise the model id: `cohere.*` is COHERE,
everything else GENERIC. A model id that is a dedicated endpoint OCID (`ocid1.generativeaiendpoint...`)
is served in DEDICATED mode, an id or name of a base model ON_DEMAND.

Authentication: `credentials` with `user`, `tenancy`, `fingerprint` and `key_content` (optionally
`pass_phrase`) sign requests with that API key; empty credentials use the worker's ambient OCI
identity, chosen by `options["auth"]`: `instance_principal` (default), `resource_principal` or
`oke_workload_identity`.

Modules: `adapter` (the adapter and its client pool), `signing` (API key or ambient identity),
`generic` and `cohere` (the two request and response formats), `shared` (what both formats use),
`errors` (SDK failures -> `ProviderError`). This package is named like the SDK it wraps; absolute
imports (Python 3's only kind) make `import oci` resolve to the top-level SDK, never to this package.
"""

import oci

from .adapter import DEDICATED_ENDPOINT_PREFIX, ENDPOINT_TEMPLATE, MAX_EMBED_BATCH, OCIAdapter
from .cohere import COHERE
from .generic import GENERIC
from .signing import AMBIENT_AUTH_MODES, API_KEY_FIELDS

__all__ = [
    "AMBIENT_AUTH_MODES",
    "API_KEY_FIELDS",
    "COHERE",
    "DEDICATED_ENDPOINT_PREFIX",
    "ENDPOINT_TEMPLATE",
    "GENERIC",
    "MAX_EMBED_BATCH",
    "OCIAdapter",
    "oci",
]
