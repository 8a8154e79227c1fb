from django.apps import AppConfig


class LobTenantsConfig(AppConfig):
    name = "lob_tenants"
    verbose_name = "Lines of business"
