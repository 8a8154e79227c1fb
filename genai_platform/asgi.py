import os

import django

from genai_platform import telemetry

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genai_platform.settings")
telemetry.configure("gateway")
django.setup(set_prefix=False)  # what django.core.asgi.get_asgi_application does first

from genai_platform.gateway.asgi_handler import GatewayASGIHandler  # noqa: E402 - needs the apps loaded

application = GatewayASGIHandler()
