from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "genai_platform.portal"
    label = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from django.contrib import admin

        admin.site.site_header = "GenAI platform portal"
        admin.site.site_title = "GenAI platform"
        admin.site.index_title = "Portal"
        # No raw None or empty value on any admin page.
        admin.site.empty_value_display = "none"
