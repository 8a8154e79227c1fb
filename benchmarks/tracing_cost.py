"""CPU cost of OpenTelemetry per model call, off (the default) and on.

A gateway call opens the `chat <alias>` span with four step spans (input guardrails, admission,
output guardrails, the Celery publish) and records the GenAI metrics; a worker call opens one span.
This measures exactly those calls of `genai_platform.telemetry`, first with the API's no-op
providers (what every process runs unless OTEL_* asks), then with the SDK installed and a batch
span processor, its export replaced by a sink so the network is not measured (export runs on the
processor's own thread in production).

    .venv/bin/python benchmarks/tracing_cost.py [--iterations 20000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_call(telemetry) -> None:
    with telemetry.model_call(operation="chat", provider="", request_model="bench-chat") as call:
        for step in ("guardrails.input", "admission", "celery.publish", "guardrails.output"):
            with telemetry.step(step):
                pass
        call.served(provider="openai_compatible", response_model="gpt-bench")
        call.usage(input_tokens=12, output_tokens=30)


def micros_per_call(telemetry, iterations: int) -> float:
    for _ in range(min(500, iterations)):
        one_call(telemetry)
    started = time.process_time()
    for _ in range(iterations):
        one_call(telemetry)
    return (time.process_time() - started) / iterations * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genai_platform.settings")
    import django

    django.setup()
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from genai_platform import telemetry

    class Sink(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    off = micros_per_call(telemetry, args.iterations)
    telemetry.configure("bench", span_processor=BatchSpanProcessor(Sink(), max_queue_size=65536))
    on = micros_per_call(telemetry, args.iterations)
    print("OpenTelemetry cost per gateway call (5 spans, GenAI metrics), CPU microseconds:")
    print(f"  off (default, no-op API)            {off:8.1f} us")
    print(f"  on  (SDK, batch processor, no I/O)  {on:8.1f} us")
    print(f"  added by turning tracing on         {on - off:8.1f} us")
    telemetry.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
