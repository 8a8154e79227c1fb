from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "lob_tenants.agents"
    label = "agents"
    verbose_name = "Agents"
