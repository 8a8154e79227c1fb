import logging
import os

import django

from genai_platform import runtime, telemetry

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genai_platform.settings")
telemetry.configure("gateway")
django.setup(set_prefix=False)  # what django.core.asgi.get_asgi_application does first

from django.db import connections  # noqa: E402 - needs the apps loaded
from django.urls import get_resolver  # noqa: E402

from genai_platform.gateway.asgi_handler import GatewayASGIHandler  # noqa: E402
from governance.services.guardrail_policies import guardrail_engine_warm_up  # noqa: E402

application = GatewayASGIHandler()


def _warm_up() -> None:
    """Load before the first request what it would otherwise wait seconds for: the URL configuration
    and what the published guardrail policies need (Presidio; the NER model only if a policy asks for
    names). gunicorn imports this module in each worker, or once in the arbiter when it preloads (the
    workers then share those pages). A warm-up that fails (no database yet) is logged, and the first
    call loads what it needs."""
    get_resolver().url_patterns  # noqa: B018 - importing every view module is the point
    try:
        guardrail_engine_warm_up()
    except Exception:  # an optimisation: a worker that cannot warm up still serves, its first call loads
        logging.getLogger(__name__).warning("guardrail warm-up skipped", exc_info=True)
    finally:
        connections.close_all()  # never hand a database connection across gunicorn's fork


_warm_up()
runtime.heap_settled()
