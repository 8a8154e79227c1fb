from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "genai_platform.access"
    label = "access"
    verbose_name = "Access control"
