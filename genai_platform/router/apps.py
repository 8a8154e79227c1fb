from django.apps import AppConfig


class RouterConfig(AppConfig):
    name = "genai_platform.router"
    label = "router"
    verbose_name = "Router"
