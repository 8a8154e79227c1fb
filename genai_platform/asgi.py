import os

from django.core.asgi import get_asgi_application

from genai_platform import telemetry

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genai_platform.settings")
telemetry.configure("gateway")
application = get_asgi_application()
