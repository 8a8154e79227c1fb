import os

from django.core.wsgi import get_wsgi_application

from genai_platform import telemetry

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genai_platform.settings")
telemetry.configure("gateway")
application = get_wsgi_application()


def _warm_up() -> None:
    """Imports the URL configuration and builds the guardrail engine before the first request, which
    would otherwise pay for loading Presidio's analyzers (seconds) while a client waits."""
    from django.urls import get_resolver

    from governance.services.guardrail_policies import guardrail_engine

    get_resolver().url_patterns  # noqa: B018 - importing every view module is the point
    guardrail_engine()


_warm_up()
