"""Process-wide choices made once, when a process starts: which heavy frameworks it may import and
how many files it may open.

Machine-learning frameworks. torch and transformers cost ~320 MB of RSS and seconds of start-up
in every process that imports them, and only a process that runs the `local` embedding provider
needs them. Yet libraries on the guardrails' path import them whenever they are installed, each
behind `try: import ... except ImportError`: Presidio's transformers NLP engine
(`presidio_analyzer.nlp_engine`) and thinc's torch shim under spaCy (`thinc.compat`). A process
that will never run a local model marks the two absent in `sys.modules`, which Python's import
system documents as "raise ImportError", so those libraries take their "not installed" branch.

`GENAI_ML_FRAMEWORKS` decides: `on` (always importable), `off` (never), or `auto` (the default):
importable where local models may run, i.e. in a process that runs Celery tasks eagerly (the
embedded default and the test suite: no `CELERY_BROKER_URL`) and in a Celery worker that consumes
the `provider.local` queue (or every queue); kept out of the gateway, beat, every other worker and
management commands of a deployment with a broker. Set `on` for a process that loads a
transformers model of its own (a local prompt-injection classifier in the gateway).
"""

from __future__ import annotations

import gc
import os
import resource
import sys
from collections.abc import Iterable, Mapping

#: The frameworks kept out, by top-level package name. A name already imported is left alone.
ML_FRAMEWORKS = ("torch", "transformers")
LOCAL_PROVIDER_QUEUE = "provider.local"


def ml_frameworks_wanted(environ: Mapping[str, str]) -> bool:
    """Whether a process started with `environ` may import the ML frameworks (before it knows its
    queues: a worker refines this with `worker_wants_ml_frameworks`)."""
    mode = environ.get("GENAI_ML_FRAMEWORKS", "auto").strip().lower()
    if mode in ("on", "off"):
        return mode == "on"
    # Without a broker, tasks (and so the local provider) run inside this very process.
    return not environ.get("CELERY_BROKER_URL")


def worker_wants_ml_frameworks(environ: Mapping[str, str], queues: Iterable[str] | str | None) -> bool:
    """Whether a Celery worker consuming `queues` (None or empty: every queue) may import them."""
    mode = environ.get("GENAI_ML_FRAMEWORKS", "auto").strip().lower()
    if mode in ("on", "off"):
        return mode == "on"
    if isinstance(queues, str):
        queues = queues.split(",")
    names = {name.strip() for name in queues or () if name.strip()}
    return not names or LOCAL_PROVIDER_QUEUE in names


def keep_ml_frameworks_out() -> None:
    """Makes `import torch` / `import transformers` fail in this process, as if not installed."""
    for name in ML_FRAMEWORKS:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def let_ml_frameworks_in() -> None:
    """Undoes `keep_ml_frameworks_out` (for a worker that learns late that it serves local models)."""
    for name in ML_FRAMEWORKS:
        if name in sys.modules and sys.modules[name] is None:
            del sys.modules[name]


def raise_open_files_limit() -> int:
    """Raises this process's soft limit on open files to its hard limit and returns the new limit.

    Every call in flight holds sockets (the client's, Redis's, the provider's): at a thousand calls a
    soft limit of 1,024, the default of many systems, fails with "too many open files". Raising
    the soft limit up to the hard one needs no privilege."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # a container runtime may refuse; the start command's `ulimit -n` is the other way
    return soft


def configure_process(environ: Mapping[str, str] | None = None) -> None:
    """Applies both choices; called once when the Celery app (and so Django) is first imported."""
    environ = os.environ if environ is None else environ
    if not ml_frameworks_wanted(environ):
        keep_ml_frameworks_out()
    raise_open_files_limit()


def heap_settled(environ: Mapping[str, str] | None = None) -> bool:
    """Tells the garbage collector that what is alive now stays: called once a server process has
    loaded everything it serves with (Django, the URL conf, the guardrails, the provider SDKs).

    CPython's full collection walks every tracked object: ~235,000 in a gateway or worker after
    start-up, ~100 ms with the GIL held, every time allocation patterns trigger one under load,
    stalling every call of the process. `gc.freeze()` moves those objects to a generation no
    collection visits, so a full collection walks only what calls allocated since. Before gunicorn
    forks it also keeps the children from writing to (and so copying) the shared pages. Startup
    objects never collected cost nothing: they live as long as the process anyway.
    `GC_FREEZE_AT_START=false` turns it off. Returns whether it froze."""
    environ = os.environ if environ is None else environ
    if environ.get("GC_FREEZE_AT_START", "true").lower() in ("0", "false", "no", "off"):
        return False
    gc.collect()  # what start-up left as garbage goes now, not into the frozen generation
    gc.freeze()
    return True
