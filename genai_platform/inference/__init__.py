"""The inference core: every model call, whoever makes it (the gateway's `/v1` views, agent runs,
vector-store ingestion and retrieval), goes plan -> guard input -> admit -> dispatch -> guard
output -> meter through this package. It knows no HTTP: it takes normalized requests and a
`KeyPrincipal`, and raises the domain errors of `errors.py`.

- `chat.py`: chat calls, whole (`chat_complete`) and streamed (`chat_stream`), and their steps.
- `embeddings.py`: `embeddings_create`.
- `planning.py`: the gate and the deployments to try (`chat_plan`, `gated_routes`, `models_visible`).
- `guarding.py`, `metering.py`: a call's guardrails (`CallGuard`) and its metering scope (`CallMeter`).
- `prompting.py`, `response_cache.py`: the pinned prompt and the exact-match cache of chat calls.
"""
