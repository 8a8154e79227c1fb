import logging
from typing import Any

from django.apps import AppConfig
from django.db import DatabaseError
from django.db.models.signals import post_migrate

logger = logging.getLogger(__name__)


class MeteringConfig(AppConfig):
    name = "genai_platform.metering"
    label = "metering"
    verbose_name = "Usage and cost"

    def ready(self) -> None:
        # Every `migrate` (the deploy's migration Job, as the owner role) also creates the months ahead.
        post_migrate.connect(_partitions_ahead, sender=self)


def _partitions_ahead(using: str = "default", **_: Any) -> None:
    from .partitions import ledger_partitions_ensure

    if using != "default":
        return
    try:
        ledger_partitions_ensure()
    except DatabaseError:
        # A `migrate` run by a role that may not create tables (it had nothing to migrate) must not
        # fail for it: the owner's maintenance worker creates the months (metering.partitions_ensure).
        logger.warning("could not create the ledger's months ahead as this role", exc_info=True)
