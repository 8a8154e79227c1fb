from django.apps import AppConfig


class LedgerConfig(AppConfig):
    """The usage buffer's writer and flusher, above metering (usage rows) and governance (captured
    exchanges): it buffers each call's usage, redacts its prompt capture off the request path and
    moves both into the ledger."""

    name = "genai_platform.ledger"
    label = "ledger"
    verbose_name = "Ledger"
