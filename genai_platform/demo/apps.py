from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "genai_platform.demo"
    label = "demo"
    verbose_name = "Demo world"
