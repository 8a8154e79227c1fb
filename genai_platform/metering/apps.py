from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MeteringConfig(AppConfig):
    name = "genai_platform.metering"
    label = "metering"
    verbose_name = "Usage and cost"

    def ready(self) -> None:
        # Every `migrate` (the deploy's migration Job, as the owner role) also creates the months ahead.
        post_migrate.connect(_partitions_ahead, sender=self)


def _partitions_ahead(using: str = "default", **_: Any) -> None:
    from .partitions import ledger_partitions_ensure

    if using == "default":
        ledger_partitions_ensure()
