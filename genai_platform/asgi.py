import logging
import os

from django.core.asgi import get_asgi_application

from genai_platform import telemetry

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genai_platform.settings")
telemetry.configure("gateway")
application = get_asgi_application()


def _warm_up() -> None:
    """Each gateway worker imports this module after gunicorn forked it (no preload): the URL
    configuration and what the published guardrail policies need (Presidio; the NER model only if a
    policy asks for names) are loaded here, before the first request, which would otherwise wait
    seconds. A warm-up that fails (no database yet) is logged, and the first call loads them."""
    from django.urls import get_resolver

    from governance.services.guardrail_policies import guardrail_engine_warm_up

    get_resolver().url_patterns  # noqa: B018 - importing every view module is the point
    try:
        guardrail_engine_warm_up()
    except Exception:  # an optimisation: a worker that cannot warm up still serves, its first call loads
        logging.getLogger(__name__).warning("guardrail warm-up skipped", exc_info=True)


_warm_up()
