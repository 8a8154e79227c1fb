from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "genai_platform.metering"
    label = "metering"
    verbose_name = "Usage and cost"
