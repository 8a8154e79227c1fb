from django.apps import AppConfig


class VectorStoresConfig(AppConfig):
    name = "lob_tenants.vector_stores"
    label = "vector_stores"
    verbose_name = "Vector stores"
