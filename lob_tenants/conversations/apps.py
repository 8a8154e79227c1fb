from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "lob_tenants.conversations"
    label = "conversations"
    verbose_name = "Stored responses"
